"""Pay Now links (DESIGN §5.9): card or EFT payment of an invoice on NetCash's hosted page.

Each link is a `payment_requests` row with a unique reference and a random secret. The
customer opens our page `/pay/<reference>`, which posts NetCash's form (the reference as
p2, the reference, secret and invoice number as Extra 1-3). NetCash's notify postback is
unsigned, so it counts only when its reference names a pending request, its amount is the
requested amount to the cent and it carries that request's secret; it is de-duplicated on
NetCash's RequestTrace (the payment's transaction id is "PN-<RequestTrace>"). Money beyond
what is still due stays on the account as credit (`record_payment`). Anything else changes
nothing and is kept in the postback log. The statement job takes a Pay Now line whose notify
never came.
"""

import hmac
import secrets
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from app import clock
from app.audit import Actor, record_audit, snapshot
from app.billing.allocation import amount_due
from app.billing.payments import find_payment, record_payment
from app.debit_orders import PostbackOutcome, log_postback
from app.errors import Conflict
from app.extensions import db
from app.integrations.netcash import StatementLine, parse_paynow_notify, paynow_form
from app.models import Customer, CustomerInvoice, PaymentRequest
from app.notifications import queue_notification

PAYNOW_ACTOR = Actor.system("netcash-paynow")
# NetCash's Method field: 1 card, 2 EFT, 3 retail, 4 instant EFT (integrations.md §1.14).
PAYMENT_CHANNEL_OF_METHOD = {"1": "card", "2": "eft", "4": "eft"}
# What NetCash's library appends to a reference to make each attempt unique.
ATTEMPT_SEPARATOR = "__"
HIDDEN_FIELDS = ("Extra2",)  # our secret never lands in the postback log


def payment_url(reference: str) -> str:
    """Our page that sends the payer on to NetCash with the request's form."""
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/pay/{reference}"


def new_reference(invoice: CustomerInvoice) -> str:
    """A unique, unguessable reference naming the invoice, e.g. INV-2026-00017-7F3A9C."""
    return f"{invoice.invoice_number}-{secrets.token_hex(3).upper()}"


def payment_link(
    invoice: CustomerInvoice, *, actor: Actor, amount: Decimal | None = None
) -> PaymentRequest:
    """A Pay Now link for what is due on the invoice (or `amount`): the pending request of
    the same amount when there is one, else a new request (flushed, audited)."""
    amount = amount_due(invoice) if amount is None else amount
    if amount <= 0:
        raise Conflict(f"Nothing is due on {invoice.invoice_number}: no payment link.")
    if not invoice.invoice_number:
        raise Conflict("An invoice gets a payment link once it is numbered.")
    existing = db.session.scalar(
        select(PaymentRequest)
        .where(
            PaymentRequest.invoice_id == invoice.id,
            PaymentRequest.status == "pending",
            PaymentRequest.amount_requested == amount,
        )
        .order_by(PaymentRequest.id.desc())
        .limit(1)
    )
    if existing is not None:
        return existing
    reference = new_reference(invoice)
    request = PaymentRequest(
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        amount_requested=amount,
        reference=reference,
        secret=secrets.token_urlsafe(24),
        url=payment_url(reference),
        status="pending",
    )
    db.session.add(request)
    db.session.flush()
    record_audit(
        actor=actor,
        entity=request,
        action="create_payment_request",
        reason=f"Pay Now link for {invoice.invoice_number}",
        before=None,
        after=snapshot(request),
        customer_id=invoice.customer_id,
    )
    return request


def pay_url_for_invoice(invoice: CustomerInvoice, *, actor: Actor) -> str | None:
    """The Pay Now URL to print in a message about the invoice; None when nothing is due."""
    if not invoice.invoice_number or amount_due(invoice) <= 0:
        return None
    return payment_link(invoice, actor=actor).url


def find_request(reference: str | None, *, lock: bool = False) -> PaymentRequest | None:
    """The request a (NetCash) reference names; a "__" attempt suffix is ignored."""
    reference = (reference or "").split(ATTEMPT_SEPARATOR, 1)[0].strip()
    if not reference:
        return None
    query = select(PaymentRequest).where(PaymentRequest.reference == reference)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


@dataclass(frozen=True)
class PayForm:
    """What our /pay page posts to NetCash."""

    request: PaymentRequest
    action_url: str
    fields: dict[str, str]


def pay_form(reference: str) -> PayForm | None:
    """The NetCash form of a pending request; None when there is no such pending request."""
    request = find_request(reference)
    if request is None or request.status != "pending":
        return None
    invoice = db.session.get(CustomerInvoice, request.invoice_id) if request.invoice_id else None
    customer = db.session.get(Customer, request.customer_id)
    number = invoice.invoice_number if invoice is not None else request.reference
    url, fields = paynow_form(
        reference=request.reference,
        description=f"{current_app.config['BRAND_NAME']} {number}",
        amount=request.amount_requested,
        extra1=request.reference,
        extra2=request.secret,
        extra3=number,
        email=customer.email,
        mobile=customer.phone,
    )
    return PayForm(request, url, fields)


def apply_paynow_notify(form) -> PostbackOutcome:
    """Take a Pay Now notify: pay the request when reference, amount and secret match.

    Every notify is logged with its outcome; a refused one changes nothing else.
    """
    notify = parse_paynow_notify(form)
    reference = notify.reference.split(ATTEMPT_SEPARATOR, 1)[0] or None
    log_fields = {
        "payload": form,
        "reference": reference,
        "request_trace": notify.request_trace,
        "hidden": HIDDEN_FIELDS,
    }
    request = find_request(reference, lock=True)
    if request is None:
        return log_postback(
            "paynow", "refused", "Unknown reference: no such Pay Now request.", **log_fields
        )
    log_fields["customer_id"] = request.customer_id
    if not (notify.extra2 and hmac.compare_digest(notify.extra2.encode(), request.secret.encode())):
        return log_postback(
            "paynow",
            "refused",
            f"The secret does not match request {request.reference}.",
            **log_fields,
        )
    if notify.amount is None or notify.amount != request.amount_requested:
        return log_postback(
            "paynow",
            "refused",
            f"Amount {form.get('Amount')!r} is not the requested {request.amount_requested}.",
            **log_fields,
        )
    if not notify.request_trace:
        return log_postback("paynow", "refused", "The notify has no RequestTrace.", **log_fields)
    key = f"PN-{notify.request_trace}"
    if find_payment(key) is not None:
        return log_postback(
            "paynow", "duplicate", f"Payment {key} was already recorded.", **log_fields
        )
    status = notify.status
    if status != "success":
        if status in ("declined", "cancelled") and request.status == "pending":
            invoice = db.session.get(CustomerInvoice, request.invoice_id)
            queue_notification(
                db.session.get(Customer, request.customer_id),
                "payment_failed",
                {
                    "invoice_number": invoice.invoice_number if invoice else None,
                    "amount": request.amount_requested,
                    "pay_url": request.url,
                },
                dedupe_key=f"paynow-failed-{notify.request_trace}",
            )
        return log_postback(
            "paynow",
            "ignored",
            f"NetCash reports the payment {status} ({notify.reason or 'no reason'}).",
            **log_fields,
        )
    if request.status != "pending":
        return log_postback(
            "paynow",
            "refused",
            f"Request {request.reference} is already {request.status}; a second payment "
            f"({notify.request_trace}) was not applied: check it in NetCash.",
            **log_fields,
        )
    payment = _pay(
        request,
        amount=notify.amount,
        key=key,
        channel=PAYMENT_CHANNEL_OF_METHOD.get(notify.method or "", "other"),
        trace=notify.request_trace,
        reason="Pay Now payment (NetCash notify)",
    )
    return log_postback(
        "paynow", "applied", f"Payment {payment.transaction_id} recorded.", **log_fields
    )


def _pay(request: PaymentRequest, *, amount, key, channel, trace, reason, payment_date=None):
    invoice = db.session.get(CustomerInvoice, request.invoice_id) if request.invoice_id else None
    customer = db.session.get(Customer, request.customer_id)
    payment, _ = record_payment(
        customer=customer,
        amount=amount,
        method=channel,
        idempotency_key=key,
        actor=PAYNOW_ACTOR,
        reason=reason,
        payment_date=payment_date,
        invoice=invoice,
        provider_reference=trace,
    )
    before = snapshot(request)
    request.status = "paid"
    request.paid_at = clock.now()
    request.payment_transaction_id = payment.id
    db.session.flush()
    record_audit(
        actor=PAYNOW_ACTOR,
        entity=request,
        action="payment_request_paid",
        reason=reason,
        before=before,
        after=snapshot(request),
        customer_id=request.customer_id,
    )
    return payment  # record_payment has queued the customer's "payment received"


def apply_statement_payment(line: StatementLine, *, actor: Actor) -> tuple[str, str, int | None]:
    """A Pay Now line on the statement: pays its request if the notify never did.

    Returns (outcome, message, customer id) for the statement record.
    """
    request = find_request(line.extra1, lock=True)
    if request is None:
        return "unmatched", f"No Pay Now request has the reference {line.extra1!r}.", None
    if request.status != "pending":
        return (
            "ignored",
            f"Request {request.reference} is already {request.status}.",
            request.customer_id,
        )
    if line.sign != "+" or line.amount != request.amount_requested:
        return (
            "unmatched",
            f"Statement amount {line.sign}{line.amount} is not the requested "
            f"{request.amount_requested}.",
            request.customer_id,
        )
    payment = _pay(
        request,
        amount=line.amount,
        key=f"PN-STMT-{line.transaction_id}",
        channel="card" if line.code == "PNC" else "eft",
        trace=line.transaction_id,
        reason=f"Pay Now payment found on the NetCash statement ({actor.label})",
        payment_date=min(line.transaction_date, clock.today()),
    )
    return (
        "paid",
        f"Payment {payment.transaction_id} recorded from the statement.",
        request.customer_id,
    )
