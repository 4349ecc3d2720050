"""Credit notes and invoice cancellation (DESIGN §5.1, §5.5).

An issued invoice never changes its amounts; a credit note corrects it. Its VAT is split
like an invoice's, except that the credit note that brings the invoice's remaining credit to
zero takes exactly the invoice's remaining VAT, so an invoice credited in parts reverses
its VAT to the cent.
"""

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from app import clock
from app.audit import Actor, record_audit, require_reason, snapshot
from app.billing.allocation import allocate_credit_note, apply_account_credit
from app.billing.calendar import Period
from app.billing.ledger import lock_billing, post_entry
from app.billing.money import ZERO, split_vat
from app.billing.numbering import queue_for_numbering
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import CreditNote, CustomerInvoice


def creditable(invoice: CustomerInvoice) -> Decimal:
    """How much of the invoice can still be credited."""
    return invoice.total_amount - invoice.amount_credited


def _vat_already_credited(invoice: CustomerInvoice) -> Decimal:
    total = db.session.scalar(
        select(func.coalesce(func.sum(CreditNote.vat_amount), 0)).where(
            CreditNote.invoice_id == invoice.id
        )
    )
    return total if isinstance(total, Decimal) else Decimal(total).quantize(Decimal("0.01"))


def issue_credit_note(
    invoice: CustomerInvoice,
    amount: Decimal,
    *,
    actor: Actor,
    reason: str,
    lines: list[dict] | None = None,
    span: Period | None = None,
    credit_note_date: date | None = None,
) -> CreditNote:
    """Credit `amount` (VAT-inclusive) of an invoice; allocated to it, posted to the ledger."""
    reason = require_reason(reason)
    lock_billing(invoice.customer_id)
    db.session.refresh(invoice, with_for_update=True)
    if invoice.status == "cancelled":
        raise Conflict("The invoice is already cancelled.")
    remaining = creditable(invoice)
    if not isinstance(amount, Decimal) or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("The amount must be a positive rand amount in cents.", field="amount")
    if amount > remaining:
        raise InvalidInput(
            f"At most R{remaining} of this invoice can still be credited.", field="amount"
        )
    if amount == remaining:
        vat = invoice.vat_amount - _vat_already_credited(invoice)
    else:
        vat = split_vat(amount, invoice.vat_rate).vat_amount
    note = CreditNote(
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        credit_note_date=credit_note_date or clock.today(),
        period_start=span.start if span else None,
        period_end=span.end if span else None,
        subtotal=amount - vat,
        vat_rate=invoice.vat_rate,
        vat_amount=vat,
        total_amount=amount,
        line_items=lines
        or [{"description": f"Credit against {invoice}: {reason}", "amount": str(amount)}],
        reason=reason,
        staff_user_id=actor.staff_user_id,
        actor=actor.label,
    )
    db.session.add(note)
    db.session.flush()
    queue_for_numbering(note)
    post_entry(
        customer_id=invoice.customer_id,
        entry_type="credit_note",
        amount=-amount,
        entry_date=note.credit_note_date,
        description=f"Credit note against invoice {invoice}",
        actor=actor,
        credit_note_id=note.id,
    )
    allocate_credit_note(note, invoice)
    # Money released from this invoice settles the customer's other open invoices.
    apply_account_credit(invoice.customer_id)
    record_audit(
        actor=actor,
        entity=note,
        action="issue_credit_note",
        reason=reason,
        before=None,
        after=snapshot(note),
        customer_id=invoice.customer_id,
    )
    return note


def cancel_invoice(invoice: CustomerInvoice, *, actor: Actor, reason: str) -> CreditNote:
    """Cancel an invoice with a credit note for everything not yet credited."""
    remaining = creditable(invoice)
    if remaining <= ZERO or invoice.status == "cancelled":
        raise Conflict("The invoice is already fully credited.")
    note = issue_credit_note(invoice, remaining, actor=actor, reason=reason, lines=None, span=None)
    invoice.status = "cancelled"
    invoice.paid_at = None
    db.session.flush()
    return note
