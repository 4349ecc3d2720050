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
from app.billing.invoicing import describe_span
from app.billing.ledger import lock_billing, post_entry
from app.billing.money import ZERO, prorate, split_vat
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


def credit_days_from(
    invoice: CustomerInvoice, from_date: date, *, actor: Actor, reason: str
) -> CreditNote:
    """Credit the service days a period invoice still covers from `from_date` on.

    Days are credited line by line at the price they were charged (pro-rata per §5.4);
    from the first day of the invoice on, everything still creditable is credited and the
    invoice ends cancelled. The invoice then covers only the days before `from_date`.
    """
    start = max(from_date, invoice.period_start)
    end = invoice.covered_until
    if start >= end:
        raise Conflict("The invoice covers no days from that date.")
    if start == invoice.period_start:
        amount = creditable(invoice)
        lines = [
            {
                "description": f"Credit {describe_span(Period(start, end))} of {invoice}",
                "amount": str(amount),
            }
        ]
    else:
        amount, lines = ZERO, []
        for line in invoice.line_items:
            if "period_start" not in line:
                continue
            line_start = date.fromisoformat(line["period_start"])
            line_end = min(date.fromisoformat(line["period_end"]), end)
            overlap = Period(max(line_start, start), line_end)
            if overlap.start >= overlap.end:
                continue
            if overlap.start == line_start and line_end == date.fromisoformat(line["period_end"]):
                part = Decimal(line["amount"])
            else:
                part = prorate(Decimal(line["unit_price"]), overlap.days, line["period_days"])
            amount += part
            lines.append(
                {
                    "description": f"Credit {describe_span(overlap)}, "
                    f"{overlap.days}/{line['period_days']} days",
                    "amount": str(part),
                    "period_start": overlap.start.isoformat(),
                    "period_end": overlap.end.isoformat(),
                }
            )
        amount = min(amount, creditable(invoice))
    note = issue_credit_note(
        invoice, amount, actor=actor, reason=reason, lines=lines, span=Period(start, end)
    )
    if invoice.status != "cancelled":
        invoice.covered_until = start
    db.session.flush()
    return note
