"""Debit orders through NetCash (DESIGN §5.6, §5.9): eMandates, the daily batch, collection
and the statement.

- **Mandates.** A debit-order method starts `pending_signature`; `request_mandate` asks
  NetCash (AddMandate) for the signing page and sends its link to the customer. The mandate
  postback, or the hourly poll for postbacks that never came, makes it active or failed.
- **Submission (06:00).** Invoices with money due, of customers with auto-pay on and an
  active mandate, with no live item, whose collection date (moved off weekends and public
  holidays by the mandate's holiday option) falls on or before the first valid action date,
  go into one TwoDay batch with that action date: one line per customer, one item and one
  pending payment per invoice. Limits per line and per action date (settings, and NetCash's
  own) defer what does not fit to a later action date or stop it with a message. The batch
  is committed before it is uploaded, so a crash or an outage leaves it to be resumed, and
  a batch NetCash already has (found by name) is never uploaded twice.
- **Collection.** On the action date the day's items become provisional payments, allocated
  like any payment. The statement job (09:00) confirms them (TDD) or reverses them (DRU) with
  their unpaid code: 02 and 22 are retried at the next mandated debit date, at most three
  consecutive attempts, with a Pay Now link meanwhile; any other code deactivates the mandate
  and tells the customer. Each statement line is taken once (its NetCash transaction id is
  unique), so reading a statement twice applies nothing twice.

Provider calls happen here with a client the caller opens; the jobs commit between steps.
"""

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from flask import current_app
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.audit import Actor, record_audit, snapshot
from app.billing.allocation import allocate_payment, amount_due, open_invoices
from app.billing.calendar import billing_date_after, billing_date_on_or_after
from app.billing.ledger import lock_billing, post_entry
from app.billing.money import ZERO, format_rand
from app.billing.payment_data import decrypt_details
from app.billing.payments import reverse_payment
from app.business_days import add_business_days, is_business_day
from app.errors import InvalidInput
from app.extensions import db
from app.integrations.netcash import (
    DebitLine,
    LoadReport,
    MandateRequest,
    NetcashClient,
    NetcashError,
    StatementLine,
    build_debit_batch,
)
from app.models import (
    Customer,
    CustomerBilling,
    CustomerInvoice,
    CustomerPaymentMethod,
    DebitOrderBatch,
    DebitOrderItem,
    NetcashPostback,
    NetcashStatementLine,
    PaymentTransaction,
)
from app.models.payments import LIVE_ITEM_STATUSES
from app.notifications import queue_notification
from app.payment_methods import deactivate_payment_method
from app.settings import setting_on

log = logging.getLogger(__name__)

RUN_ACTOR = Actor.system("debit-order-run")
STATEMENT_ACTOR = Actor.system("netcash-statement")
MANDATE_ACTOR = Actor.system("netcash-mandate")

INSTRUCTION = "TwoDay"
MIN_BUSINESS_DAYS_AHEAD = 3  # TwoDay: action date ≥ upload date + 3 business days
OPEN_INVOICE_STATUSES = ("unpaid", "partial", "overdue")
RETRY_CODES = ("02", "22")  # not provided for (insufficient funds), effects not cleared
MAX_CONSECUTIVE_ATTEMPTS = 3
# Codes by which the account holder withdrew the authority: the mandate is cancelled.
HOLDER_CANCELLED_CODES = ("04", "34", "36")
UNPAID_REASONS = {
    "02": "Not provided for (insufficient funds)",
    "03": "Debits not allowed to this account",
    "04": "Payment stopped by the account holder",
    "06": "Account frozen",
    "08": "Account in sequestration",
    "10": "Account in liquidation",
    "12": "Account closed",
    "14": "Account transferred (redirected)",
    "16": "Account transferred to another bank",
    "18": "Account holder deceased",
    "22": "Account effects not cleared",
    "26": "Account closed",
    "28": "Recall / withdrawal",
    "30": "No authority to debit",
    "32": "Debit in contravention of the payer's authority",
    "34": "Authorisation cancelled",
    "36": "Previously stopped via stop-payment advice",
    "56": "Not FICA compliant",
    "60": "Blocked after consecutive unpaids: a new mandate is needed",
}
SUCCESS_CODES = ("TDD", "SDD")
RETURN_CODES = ("DRU",)
PAYNOW_CODES = ("PNC", "PNE", "PNP")
# How far back the statement job looks for collections still waiting for their statement.
STATEMENT_LOOKBACK_DAYS = 14
# NetCash answers FILE NOT READY for a while: how often to ask before leaving it for later.
POLL_ATTEMPTS = 6
POLL_PAUSE_CAP_SECONDS = 10.0

HOLIDAY_OPTION_NAMES = {
    "preceding": "PrecedingOrdinaryBusinessDay",
    "next": "VeryNextOrdinaryBusinessDay",
}
ACCOUNT_TYPE_CODES = {"current": 1, "savings": 2, "transmission": 3}
ACCOUNT_TYPE_NAMES = {"current": "Current", "savings": "Savings", "transmission": "Transmission"}
# NetCash mandate-data status codes (integrations.md §1.11).
MANDATE_ACCEPTED = 6
MANDATE_REFUSED = (3, 4, 5)  # expired, failed, declined

T = TypeVar("T")
_LONG_NUMBER = re.compile(r"(?<![\d*])\d{9,}")


def poll(fetch: Callable[[], T | None], attempts: int = POLL_ATTEMPTS) -> T | None:
    """Ask until NetCash stops answering FILE NOT READY (None), pausing a little longer each
    time; None when it is still not ready after `attempts`."""
    pause = max(current_app.config["PROVIDER_BACKOFF_SECONDS"], 0.01)
    for attempt in range(attempts):
        result = fetch()
        if result is not None:
            return result
        if attempt < attempts - 1:
            time.sleep(min(pause * 2**attempt, POLL_PAUSE_CAP_SECONDS))
    return None


def unpaid_reason(code: str | None) -> str:
    return UNPAID_REASONS.get(code or "", f"Unpaid code {code}" if code else "Unpaid")


def _lock_method(method_id: int) -> CustomerPaymentMethod | None:
    return db.session.scalars(
        select(CustomerPaymentMethod)
        .where(CustomerPaymentMethod.id == method_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


# --- mandates --------------------------------------------------------------------------------


def mandate_request_for(method: CustomerPaymentMethod, today: date) -> MandateRequest:
    """The AddMandate request of a debit-order method, from the customer and bank details."""
    customer: Customer = method.customer
    details = decrypt_details(method.encrypted_details)
    is_consumer = customer.account_type != "business"
    business_name = customer.company_name or customer.full_name
    first_debit = billing_date_on_or_after(
        add_business_days(today, MIN_BUSINESS_DAYS_AHEAD), method.debit_day
    )
    return MandateRequest(
        account_reference=customer.account_number,
        mandate_name=business_name if not is_consumer else customer.full_name,
        mandate_amount=method.max_debit_amount,
        is_consumer=is_consumer,
        first_name=customer.first_name,
        surname=customer.last_name,
        trading_name=None if is_consumer else business_name,
        # We keep no company registration number: the ID number or VAT number stands in.
        registration_number=None if is_consumer else (customer.id_number or customer.vat_number),
        registered_name=None if is_consumer else business_name,
        mobile_number=customer.phone or "",
        email=customer.email,
        debit_day=method.debit_day,
        commencement_month=first_debit.month,
        agreement_date=today,
        agreement_reference=f"{customer.account_number}-{method.id}",
        public_holiday_option=HOLIDAY_OPTION_NAMES[method.holiday_option or "next"],
        bank_account_name=details["holder_name"],
        bank_account_number=details["account_number"],
        branch_code=details["branch_code"],
        bank_account_type=ACCOUNT_TYPE_NAMES[details["account_type"]],
        field1=str(method.id),
        field2=customer.account_number,
    )


@dataclass(frozen=True)
class MandateStart:
    """What asking NetCash for a mandate did."""

    method_id: int
    started: bool  # a signing URL was received now
    mandate_url: str | None
    errors: list[str] = field(default_factory=list)


def request_mandate(
    method: CustomerPaymentMethod, client: NetcashClient, *, actor: Actor
) -> MandateStart:
    """Ask NetCash for the method's eMandate and send the signing link to the customer.

    Only a pending mandate without a URL is asked for (so a repeated job asks once). When
    NetCash refuses the details (203), the mandate fails and the method is deactivated.
    Provider outages propagate (`ProviderUnavailable`): the hourly poll asks again.
    """
    method = _lock_method(method.id)
    if (
        method is None
        or not method.is_active
        or method.method_type != "debit_order"
        or method.mandate_status != "pending_signature"
        or method.mandate_url
    ):
        url = method.mandate_url if method is not None else None
        return MandateStart(method.id if method else 0, False, url)
    today = clock.today()
    try:
        request = mandate_request_for(method, today)
        result = client.add_mandate(request)
    except ValueError as error:  # details NetCash could not even be sent (bad mobile number)
        errors = [str(error)]
    else:
        if result.ok:
            before = snapshot(method)
            method.mandate_url = result.mandate_url
            db.session.flush()
            record_audit(
                actor=actor,
                entity=method,
                action="mandate_requested",
                reason="NetCash eMandate created; signing link sent to the customer",
                before=before,
                after=snapshot(method),
                customer_id=method.customer_id,
            )
            queue_notification(
                method.customer,
                "mandate_signing_link",
                {
                    "amount": method.max_debit_amount,
                    "mandate_url": result.mandate_url,
                    "account_number": method.customer.account_number,
                },
                dedupe_key=f"mandate-link-{method.id}",
            )
            return MandateStart(method.id, True, result.mandate_url)
        errors = result.errors or [f"NetCash answered {result.error_code}"]
    deactivate_payment_method(
        method,
        actor=actor,
        reason="NetCash refused the mandate: " + "; ".join(errors),
        mandate_status="failed",
        allow_while_owing=True,
    )
    return MandateStart(method.id, False, None, errors)


def activate_mandate(
    method: CustomerPaymentMethod, *, actor: Actor, reason: str, reference: str | None = None
) -> bool:
    """A signed mandate: the method can be debited from now on. False if it was not pending."""
    if method.mandate_status != "pending_signature" or not method.is_active:
        return False
    before = snapshot(method)
    method.mandate_status = "active"
    method.mandate_signed_at = clock.now()
    if reference and method.mandate_reference != reference:
        taken = db.session.scalar(
            select(CustomerPaymentMethod.id).where(
                CustomerPaymentMethod.mandate_reference == reference
            )
        )
        method.mandate_reference = reference if taken is None else method.mandate_reference
    db.session.flush()
    record_audit(
        actor=actor,
        entity=method,
        action="mandate_active",
        reason=reason,
        before=before,
        after=snapshot(method),
        customer_id=method.customer_id,
    )
    return True


def fail_mandate(method: CustomerPaymentMethod, *, actor: Actor, reason: str) -> bool:
    """A declined, failed or expired mandate: the method is deactivated (primary moves on)."""
    if method.mandate_status != "pending_signature" or not method.is_active:
        return False
    deactivate_payment_method(
        method, actor=actor, reason=reason, mandate_status="failed", allow_while_owing=True
    )
    return True


@dataclass(frozen=True)
class PostbackOutcome:
    outcome: str  # applied | duplicate | refused | ignored
    message: str


def log_postback(
    kind: str,
    outcome: str,
    message: str,
    *,
    payload: Mapping[str, str],
    reference: str | None = None,
    request_trace: str | None = None,
    customer_id: int | None = None,
    hidden: tuple[str, ...] = (),
) -> PostbackOutcome:
    """Keep the postback and what we did with it (without the fields named in `hidden`)."""
    kept = {
        key: ("(hidden)" if key in hidden else str(value)[:500])
        for key, value in list(payload.items())[:80]
    }
    db.session.add(
        NetcashPostback(
            kind=kind,
            outcome=outcome,
            message=message[:2000],
            reference=(reference or None) and reference[:100],
            request_trace=(request_trace or None) and request_trace[:100],
            customer_id=customer_id,
            payload=kept,
        )
    )
    db.session.flush()
    level = logging.INFO if outcome in ("applied", "duplicate") else logging.WARNING
    log.log(level, "netcash %s postback %s: %s", kind, outcome, message)
    return PostbackOutcome(outcome, message)


def _method_for_postback(fields: Mapping[str, str]) -> CustomerPaymentMethod | None:
    """Field1 carries our method id; AccountRef (the account number) must agree with it."""
    account_ref = (fields.get("AccountRef") or "").strip()
    method = None
    method_id = (fields.get("Field1") or "").strip()
    if method_id.isdigit():
        method = db.session.get(CustomerPaymentMethod, int(method_id))
        if method is not None and account_ref and method.customer.account_number != account_ref:
            return None
    if method is None and account_ref:
        method = db.session.scalar(
            select(CustomerPaymentMethod)
            .join(Customer, Customer.id == CustomerPaymentMethod.customer_id)
            .where(
                Customer.account_number == account_ref,
                CustomerPaymentMethod.method_type == "debit_order",
                CustomerPaymentMethod.mandate_status == "pending_signature",
            )
            .order_by(CustomerPaymentMethod.id.desc())
            .limit(1)
        )
    if method is None or method.method_type != "debit_order":
        return None
    return method


def apply_mandate_postback(fields: Mapping[str, str]) -> PostbackOutcome:
    """The eMandate postback: a signed mandate becomes active, a declined one failed.

    Idempotent: only a pending mandate changes; a repeat is logged as a duplicate, and a
    postback that matches no method is logged and ignored (NetCash stops retrying on 200).
    """
    account_ref = (fields.get("AccountRef") or "").strip() or None
    found = _method_for_postback(fields)
    if found is None:
        return log_postback(
            "emandate",
            "ignored",
            f"No debit-order method matches AccountRef {account_ref!r} / "
            f"Field1 {fields.get('Field1')!r}.",
            payload=fields,
            reference=account_ref,
        )
    method = _lock_method(found.id)
    signed = (fields.get("MandateSuccessful") or "").strip() == "1" and (
        fields.get("IsDeclined") or ""
    ).strip() != "1"
    reference = (fields.get("MandateReferenceNumber") or "").strip() or None
    common = {"payload": fields, "reference": account_ref, "customer_id": method.customer_id}
    if method.mandate_status == "pending_signature" and method.is_active:
        if signed:
            activate_mandate(
                method,
                actor=MANDATE_ACTOR,
                reason="NetCash postback: the customer signed the mandate",
                reference=reference,
            )
            return log_postback("emandate", "applied", f"Mandate of {method} active.", **common)
        decline = (fields.get("ReasonForDecline") or "").strip() or "no reason given"
        fail_mandate(
            method, actor=MANDATE_ACTOR, reason=f"NetCash postback: mandate declined ({decline})"
        )
        return log_postback(
            "emandate", "applied", f"Mandate of {method} declined: {decline}.", **common
        )
    if (signed and method.mandate_status == "active") or (
        not signed and method.mandate_status in ("failed", "cancelled")
    ):
        return log_postback(
            "emandate",
            "duplicate",
            f"Mandate of {method} is already {method.mandate_status}.",
            **common,
        )
    return log_postback(
        "emandate",
        "ignored",
        f"Postback says {'signed' if signed else 'declined'} but the mandate of {method} is "
        f"{method.mandate_status}; nothing changed.",
        **common,
    )


@dataclass
class MandatePollResult:
    requested: int = 0  # mandates asked for (AddMandate) now
    activated: int = 0
    failed: int = 0
    pending: int = 0
    problems: list[str] = field(default_factory=list)


def pending_mandates() -> list[CustomerPaymentMethod]:
    return list(
        db.session.scalars(
            select(CustomerPaymentMethod)
            .where(
                CustomerPaymentMethod.method_type == "debit_order",
                CustomerPaymentMethod.mandate_status == "pending_signature",
                CustomerPaymentMethod.is_active.is_(True),
            )
            .order_by(CustomerPaymentMethod.id)
        )
    )


def poll_mandates(client: NetcashClient, *, actor: Actor = MANDATE_ACTOR) -> MandatePollResult:
    """The backstop for lost postbacks and failed requests: pending mandates without a URL
    are asked for again; the others take the status NetCash's mandate data gives them."""
    result = MandatePollResult()
    waiting = []
    for method in pending_mandates():
        if method.mandate_url:
            waiting.append(method)
            continue
        with db.session.begin_nested():
            start = request_mandate(method, client, actor=actor)
        if start.started:
            result.requested += 1
        elif start.errors:
            result.failed += 1
            result.problems.append(f"{method}: {'; '.join(start.errors)}")
    if not waiting:
        return result
    token = client.request_mandate_data()
    lines = poll(lambda: client.retrieve_mandate_data(token))
    if lines is None:
        result.pending += len(waiting)
        result.problems.append("NetCash mandate data not ready yet; asked again next hour.")
        return result
    by_reference: dict[str, set[int]] = defaultdict(set)
    for line in lines:
        by_reference[line.account_reference].add(line.status_code)
    for method in waiting:
        codes = by_reference.get(method.customer.account_number, set())
        locked = _lock_method(method.id)
        if MANDATE_ACCEPTED in codes:
            activate_mandate(
                locked, actor=actor, reason="NetCash mandate data: the mandate was accepted"
            )
            result.activated += 1
        elif codes and codes <= set(MANDATE_REFUSED):
            fail_mandate(
                locked,
                actor=actor,
                reason="NetCash mandate data: the mandate expired, failed or was declined",
            )
            result.failed += 1
        else:
            result.pending += 1
    return result


# --- action dates and what is due ------------------------------------------------------------


def move_to_business_day(day: date, option: str | None) -> date:
    """A debit day that is not a business day moves to the preceding or next business day,
    as the mandate's public-holiday option says."""
    step = timedelta(days=-1 if option == "preceding" else 1)
    while not is_business_day(day):
        day += step
    return day


def first_valid_action_date(today: date, client: NetcashClient | None = None) -> date:
    """The earliest TwoDay action date: 3 business days ahead (weekends and SA public
    holidays skipped), or later if NetCash says so."""
    local = add_business_days(today, MIN_BUSINESS_DAYS_AHEAD)
    if client is None:
        return local
    return max(local, client.request_action_date(today, instruction=INSTRUCTION, forward=True))


def debit_limits(today: date, client: NetcashClient | None = None) -> tuple[Decimal, Decimal]:
    """(per line, per action date): the operator's settings, lowered to NetCash's limits."""
    line = Decimal(setting_on("debit_order_line_limit", today))
    daily = Decimal(setting_on("debit_order_daily_limit", today))
    if client is not None:
        netcash_line, netcash_daily = client.get_debit_limits()
        line = min(line, netcash_line) if netcash_line > 0 else line
        daily = min(daily, netcash_daily) if netcash_daily > 0 else daily
    return line, daily


def collecting_mandates() -> dict[int, CustomerPaymentMethod]:
    """Per customer with auto-pay on, the active mandate to debit (the primary one first)."""
    methods = db.session.scalars(
        select(CustomerPaymentMethod)
        .join(CustomerBilling, CustomerBilling.customer_id == CustomerPaymentMethod.customer_id)
        .where(
            CustomerBilling.auto_pay_enabled.is_(True),
            CustomerPaymentMethod.method_type == "debit_order",
            CustomerPaymentMethod.mandate_status == "active",
            CustomerPaymentMethod.is_active.is_(True),
        )
        .order_by(CustomerPaymentMethod.is_primary, CustomerPaymentMethod.id)
    ).all()
    return {method.customer_id: method for method in methods}  # the last one wins


@dataclass(frozen=True)
class Collection:
    """An invoice to collect in the next batch."""

    invoice: CustomerInvoice
    method: CustomerPaymentMethod
    amount: Decimal
    collection_date: date
    attempt_number: int


@dataclass
class CollectionPlan:
    action_date: date
    collections: list[Collection] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # wait for a later action date
    stopped: list[str] = field(default_factory=list)  # cannot be collected by debit order

    @property
    def messages(self) -> list[str]:
        return self.stopped + self.deferred


def _previous_items(invoice_ids: list[int]) -> dict[int, list[DebitOrderItem]]:
    items: dict[int, list[DebitOrderItem]] = defaultdict(list)
    if invoice_ids:
        for item in db.session.scalars(
            select(DebitOrderItem)
            .where(DebitOrderItem.invoice_id.in_(invoice_ids))
            .order_by(DebitOrderItem.attempt_number)
        ):
            items[item.invoice_id].append(item)
    return items


def plan_collections(
    action_date: date, *, line_limit: Decimal, daily_limit: Decimal
) -> CollectionPlan:
    """What the next batch (action date `action_date`) collects, within the limits."""
    plan = CollectionPlan(action_date)
    mandates = collecting_mandates()
    if not mandates:
        return plan
    live = exists().where(
        DebitOrderItem.invoice_id == CustomerInvoice.id,
        DebitOrderItem.status.in_(LIVE_ITEM_STATUSES),
    )
    invoices = db.session.scalars(
        select(CustomerInvoice)
        .where(
            CustomerInvoice.customer_id.in_(list(mandates)),
            CustomerInvoice.status.in_(OPEN_INVOICE_STATUSES),
            CustomerInvoice.invoice_number.is_not(None),
            CustomerInvoice.total_amount
            > CustomerInvoice.amount_paid + CustomerInvoice.amount_credited,
            ~live,
        )
        .order_by(CustomerInvoice.customer_id, CustomerInvoice.due_date, CustomerInvoice.id)
    ).all()
    history = _previous_items([invoice.id for invoice in invoices])
    due: list[Collection] = []
    for invoice in invoices:
        method = mandates[invoice.customer_id]
        previous = history.get(invoice.id, [])
        earliest = invoice.due_date
        # A batch that never reached the bank (failed) does not reset a return's wait.
        returned = [item for item in previous if item.status == "returned"]
        if returned:
            last = returned[-1]
            if last.next_attempt_date is not None:
                earliest = max(earliest, last.next_attempt_date)
            elif last.payment_method_id == method.id:
                continue  # not retried on this mandate (see the return); Pay Now link sent
        collection_date = billing_date_on_or_after(earliest, method.debit_day)
        if move_to_business_day(collection_date, method.holiday_option) > action_date:
            continue
        due.append(
            Collection(
                invoice=invoice,
                method=method,
                amount=amount_due(invoice),
                collection_date=collection_date,
                attempt_number=max((item.attempt_number for item in previous), default=0) + 1,
            )
        )
    already = db.session.scalar(
        select(func.coalesce(func.sum(DebitOrderItem.amount), 0)).where(
            DebitOrderItem.action_date == action_date,
            DebitOrderItem.status.in_(LIVE_ITEM_STATUSES + ("confirmed",)),
        )
    )
    day_total = Decimal(already).quantize(Decimal("0.01"))
    by_customer: dict[int, list[Collection]] = defaultdict(list)
    for collection in due:
        by_customer[collection.invoice.customer_id].append(collection)
    for customer_collections in by_customer.values():
        line_total = ZERO
        for collection in customer_collections:
            number = collection.invoice.invoice_number
            if collection.amount > line_limit:
                plan.stopped.append(
                    f"{number} ({format_rand(collection.amount)}) exceeds the debit-order "
                    f"limit per line of {format_rand(line_limit)}: not collected by debit "
                    "order; collect it another way."
                )
                continue
            if line_total + collection.amount > line_limit:
                plan.deferred.append(
                    f"{number} ({format_rand(collection.amount)}) would take the customer's "
                    f"line over the limit per line of {format_rand(line_limit)}: split off "
                    "to a later action date."
                )
                continue
            if day_total + collection.amount > daily_limit:
                plan.deferred.append(
                    f"{number} ({format_rand(collection.amount)}) would take {action_date} over "
                    f"the daily limit of {format_rand(daily_limit)}: left for a later action "
                    "date."
                )
                continue
            line_total += collection.amount
            day_total += collection.amount
            plan.collections.append(collection)
    return plan


# --- batches ---------------------------------------------------------------------------------


def batch_name(batch: DebitOrderBatch) -> str:
    """The batch's name at NetCash (header field 5): unique, and found again by it."""
    return f"ISP-DO-{batch.id:06d}-{batch.action_date:%Y%m%d}"


def _batch_lines(batch: DebitOrderBatch, statuses=("pending",)) -> list[DebitLine]:
    """The batch's T lines, one per line reference (a customer's items summed)."""
    items = db.session.scalars(
        select(DebitOrderItem)
        .where(DebitOrderItem.batch_id == batch.id, DebitOrderItem.status.in_(statuses))
        .order_by(DebitOrderItem.id)
    ).all()
    grouped: dict[str, list[DebitOrderItem]] = {}
    for item in items:
        grouped.setdefault(item.line_reference, []).append(item)
    lines = []
    for reference, line_items in grouped.items():
        method = db.session.get(CustomerPaymentMethod, line_items[0].payment_method_id)
        customer = db.session.get(Customer, line_items[0].customer_id)
        details = decrypt_details(method.encrypted_details)
        lines.append(
            DebitLine(
                account_reference=customer.account_number,
                account_name=customer.company_name or customer.full_name,
                holder_name=details["holder_name"],
                account_type=ACCOUNT_TYPE_CODES[details["account_type"]],
                branch_code=details["branch_code"],
                account_number=details["account_number"],
                amount_cents=int(sum(item.amount for item in line_items) * 100),
                item_reference=reference,
            )
        )
    return lines


def _batch_file(batch: DebitOrderBatch, lines: list[DebitLine]) -> str:
    config = current_app.config
    return build_debit_batch(
        service_key=config.get("NETCASH_DEBIT_ORDER_SERVICE_KEY") or "not-configured",
        vendor_key=config["NETCASH_SOFTWARE_VENDOR_KEY"],
        batch_name=batch_name(batch),
        action_date=batch.action_date,
        lines=lines,
        instruction=batch.instruction,
    )


def masked_batch_file(text: str | None) -> str:
    """The batch file as a person may see it: the service key and account numbers masked."""
    if not text:
        return ""
    key: list[str] = []
    shown = []
    for line in text.splitlines():
        values = line.split("\t")
        if values[0] == "H" and len(values) > 1:
            values[1] = "*" * 8 + values[1][-4:]
        elif values[0] == "K":
            key = values[1:]
        elif values[0] == "T" and "136" in key:
            position = key.index("136") + 1
            if position < len(values):
                values[position] = "*" * max(len(values[position]) - 4, 3) + values[position][-4:]
        shown.append("\t".join(values))
    # Belt and braces: any other long digit run could be an account number too.
    return _LONG_NUMBER.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], "\n".join(shown))


def _fail_items(items, *, reason: str) -> None:
    """Items that never reached the bank: their pending payments fail with them."""
    for item in items:
        item.status = "failed"
        item.return_reason = reason[:2000]
        if item.payment_transaction_id:
            payment = db.session.get(PaymentTransaction, item.payment_transaction_id)
            if payment is not None and payment.status == "pending":
                payment.status = "failed"
                payment.failure_reason = reason[:2000]


@dataclass
class BatchBuild:
    batch: DebitOrderBatch | None
    plan: CollectionPlan
    invalid: list[str] = field(default_factory=list)  # lines whose details cannot be sent


def build_batch(
    today: date,
    *,
    actor: Actor = RUN_ACTOR,
    client: NetcashClient | None = None,
) -> BatchBuild:
    """Plan the next batch and write it: the batch, one item and one pending payment per
    invoice, its file (flushed; the caller commits before uploading). None when nothing is
    due. The unique live-item index makes a second run of the same day find nothing new."""
    action_date = first_valid_action_date(today, client)
    line_limit, daily_limit = debit_limits(today, client)
    plan = plan_collections(action_date, line_limit=line_limit, daily_limit=daily_limit)
    if not plan.collections:
        return BatchBuild(None, plan)
    batch = DebitOrderBatch(
        action_date=action_date,
        instruction=INSTRUCTION,
        status="building",
        item_count=0,
        total_amount=ZERO,
    )
    db.session.add(batch)
    db.session.flush()
    line_of_customer: dict[int, str] = {}
    items = []
    for collection in plan.collections:
        invoice = collection.invoice
        item = DebitOrderItem(
            batch_id=batch.id,
            invoice_id=invoice.id,
            customer_id=invoice.customer_id,
            payment_method_id=collection.method.id,
            amount=collection.amount,
            action_date=action_date,
            collection_date=collection.collection_date,
            attempt_number=collection.attempt_number,
            status="pending",
        )
        db.session.add(item)
        db.session.flush()
        item.line_reference = line_of_customer.setdefault(invoice.customer_id, item.reference)
        payment = PaymentTransaction(
            transaction_id=f"DO-{item.id}",
            customer_id=invoice.customer_id,
            invoice_id=invoice.id,
            payment_method_id=collection.method.id,
            method="debit_order",
            amount=collection.amount,
            status="pending",
            payment_date=action_date,
            provider_reference=item.line_reference,
            actor=actor.label,
            notes=f"Debit order {item.reference}, attempt {item.attempt_number}",
        )
        db.session.add(payment)
        db.session.flush()
        item.payment_transaction_id = payment.id
        items.append(item)
    build = BatchBuild(batch, plan)
    for line in _batch_lines(batch):
        try:
            _batch_file(batch, [line])
        except ValueError as error:
            bad = [item for item in items if item.line_reference == line.item_reference]
            _fail_items(bad, reason=f"Bank details cannot be sent to NetCash: {error}")
            build.invalid.append(f"{line.account_reference}: {error}")
    lines = _batch_lines(batch)
    _refresh_totals(batch)
    if not lines:
        batch.status = "failed"
        batch.error_message = "No line could be sent: " + "; ".join(build.invalid)
    else:
        batch.file = masked_batch_file(_batch_file(batch, lines))
    messages = plan.messages + build.invalid
    if messages:
        batch.error_message = "\n".join(filter(None, [batch.error_message, *messages]))[:5000]
    db.session.flush()
    record_audit(
        actor=actor,
        entity=batch,
        action="build_debit_order_batch",
        reason=f"Debit-order run of {today}: {batch.item_count} item(s) for {action_date}",
        before=None,
        after=snapshot(batch),
    )
    return build


def _refresh_totals(batch: DebitOrderBatch) -> None:
    """Count and value of the items still on their way to (or through) the bank."""
    count, total = db.session.execute(
        select(
            func.count(DebitOrderItem.id), func.coalesce(func.sum(DebitOrderItem.amount), 0)
        ).where(
            DebitOrderItem.batch_id == batch.id,
            DebitOrderItem.status.not_in(("failed", "cancelled")),
        )
    ).one()
    batch.item_count = count
    batch.total_amount = Decimal(total).quantize(Decimal("0.01"))


def _batch_items(batch: DebitOrderBatch, statuses) -> list[DebitOrderItem]:
    return list(
        db.session.scalars(
            select(DebitOrderItem)
            .where(DebitOrderItem.batch_id == batch.id, DebitOrderItem.status.in_(statuses))
            .order_by(DebitOrderItem.id)
        )
    )


def _fail_batch(batch: DebitOrderBatch, reason: str) -> None:
    _fail_items(_batch_items(batch, ("pending", "submitted")), reason=reason)
    batch.status = "failed"
    batch.error_message = "\n".join(filter(None, [reason, batch.error_message]))[:5000]
    _refresh_totals(batch)


def _remote_batch(client: NetcashClient, batch: DebitOrderBatch):
    name = batch_name(batch)
    return next((s for s in client.retrieve_batch_status() if s.batch_name == name), None)


def _apply_load_report(batch: DebitOrderBatch, report: LoadReport) -> None:
    """Items on error lines failed; the rest submitted (or all failed when rejected)."""
    batch.load_report = report.text[:20000]
    items = _batch_items(batch, ("pending",))
    if not report.successful:
        reasons = "; ".join(error.message for error in report.errors) or report.result
        _fail_batch(batch, f"NetCash rejected the batch: {reasons}")
        return
    lines = _batch_lines(batch)
    bad_references: dict[str, str] = {}
    for error in report.errors:
        line = None
        if error.reference:
            line = next((ln for ln in lines if ln.account_reference == error.reference), None)
        if line is None and error.line is not None:
            # "Line :n" counts the file's lines (H is 1, K is 2), as NetCash's samples do.
            index = error.line - 3
            line = lines[index] if 0 <= index < len(lines) else None
        if line is not None:
            bad_references[line.item_reference] = error.message
    for item in items:
        if item.line_reference in bad_references:
            _fail_items(
                [item], reason=f"NetCash load report: {bad_references[item.line_reference]}"
            )
        else:
            item.status = "submitted"
    batch.status = "loaded"
    if bad_references:
        batch.error_message = "\n".join(
            filter(None, [batch.error_message, *(f"{r}: {m}" for r, m in bad_references.items())])
        )[:5000]
    _refresh_totals(batch)
    if batch.item_count == 0:
        batch.status = "failed"


def advance_batch(
    batch: DebitOrderBatch, client: NetcashClient, *, actor: Actor = RUN_ACTOR
) -> bool:
    """Take one step of the batch's way to NetCash: upload, read the load report, or
    authorise. Returns True when a step was taken and another may follow (the caller
    commits in between); False when the batch waits (report not ready, authorisation
    refused) or is done. Provider outages propagate."""
    before_status = batch.status
    name = batch_name(batch)
    if batch.status == "building":
        remote = _remote_batch(client, batch)
        if remote is not None:
            # Uploaded before, but its answer was lost: never upload it twice.
            for item in _batch_items(batch, ("pending",)):
                item.status = "submitted"
            batch.status = "authorised" if remote.status_code in (2, 4) else "loaded"
            batch.load_report = batch.load_report or (
                "NetCash already had this batch (the upload's answer was lost); "
                "its load report was not read."
            )
        else:
            lines = _batch_lines(batch)
            if not lines:
                _fail_batch(batch, "Nothing left to send.")
            else:
                try:
                    batch.upload_token = client.batch_file_upload(_batch_file(batch, lines))
                except NetcashError as error:
                    _fail_batch(batch, f"NetCash refused the upload (code {error.code}).")
                else:
                    batch.status = "uploaded"
                    batch.submitted_at = clock.now()
    elif batch.status == "uploaded":
        report = poll(lambda: client.request_file_upload_report(batch.upload_token))
        if report is None:
            return False
        _apply_load_report(batch, report)
    elif batch.status == "loaded":
        remote = _remote_batch(client, batch)
        if remote is None:
            batch.error_message = f"NetCash does not list batch {name} (yet)."
            return False
        if remote.status_code in (2, 4):
            batch.status = "authorised"
        elif remote.status_code == 1:
            try:
                client.request_batch_authorise(remote.batch_guid)
            except NetcashError as error:
                message = (
                    f"NetCash refused to authorise {name} (code {error.code}): authorise it in "
                    f"the NetCash portal before {batch.action_date}."
                )
                if message not in (batch.error_message or ""):
                    batch.error_message = "\n".join(filter(None, [batch.error_message, message]))
                return False
            batch.status = "authorised"
        else:
            batch.error_message = f"NetCash holds {name} with status {remote.status_code}."
            return False
        batch.authorised_at = clock.now()
    else:
        return False
    db.session.flush()
    record_audit(
        actor=actor,
        entity=batch,
        action=f"debit_order_batch_{batch.status}",
        reason=f"Debit-order batch {name}: {before_status} → {batch.status}",
        before={"status": before_status},
        after=snapshot(batch),
    )
    return batch.status in ("uploaded", "loaded")


def unfinished_batches() -> list[DebitOrderBatch]:
    return list(
        db.session.scalars(
            select(DebitOrderBatch)
            .where(DebitOrderBatch.status.in_(("building", "uploaded", "loaded")))
            .order_by(DebitOrderBatch.id)
        )
    )


def expire_unauthorised_batches(today: date, *, actor: Actor = RUN_ACTOR) -> list[str]:
    """Batches not authorised by their action date never collect: their items fail, so
    the invoices are collected in a later batch. Returns a message per batch."""
    messages = []
    for batch in unfinished_batches():
        if batch.action_date > today:
            continue
        message = f"Batch {batch_name(batch)} was not authorised before its action date."
        before = snapshot(batch)
        _fail_batch(batch, message)
        db.session.flush()
        record_audit(
            actor=actor,
            entity=batch,
            action="debit_order_batch_failed",
            reason=message,
            before=before,
            after=snapshot(batch),
        )
        messages.append(message)
    return messages


# --- collection ------------------------------------------------------------------------------


def complete_pending_payment(
    payment: PaymentTransaction, *, actor: Actor, reason: str, payment_date: date
) -> bool:
    """Turn a pending debit-order payment into money received: ledger, allocation (its
    invoice first, then oldest due; the rest is credit) and audit. False if not pending."""
    lock_billing(payment.customer_id)
    db.session.refresh(payment, with_for_update=True)
    if payment.status != "pending":
        return False
    before = snapshot(payment)
    payment.status = "completed"
    payment.payment_date = payment_date
    payment.processed_at = clock.now()
    db.session.flush()
    post_entry(
        customer_id=payment.customer_id,
        entry_type="payment",
        amount=-payment.amount,
        entry_date=payment_date,
        description=f"Payment debit_order {payment.provider_reference or payment.transaction_id}",
        actor=actor,
        payment_id=payment.id,
    )
    allocate_payment(payment, open_invoices(payment.customer_id, first=payment.invoice_id))
    record_audit(
        actor=actor,
        entity=payment,
        action="record_payment",
        reason=reason,
        before=before,
        after=snapshot(payment),
        customer_id=payment.customer_id,
    )
    return True


@dataclass
class CollectionResult:
    applied: int = 0
    failures: list[str] = field(default_factory=list)


def apply_due_items(today: date, *, actor: Actor = RUN_ACTOR) -> CollectionResult:
    """On (or after) the action date, the authorised batches' items become provisional
    payments. Each item in its own savepoint: one failure never stops the rest."""
    result = CollectionResult()
    items = db.session.scalars(
        select(DebitOrderItem)
        .join(DebitOrderBatch, DebitOrderBatch.id == DebitOrderItem.batch_id)
        .where(
            DebitOrderItem.status == "submitted",
            DebitOrderItem.action_date <= today,
            DebitOrderBatch.status.in_(("authorised", "completed")),
        )
        .order_by(DebitOrderItem.id)
    ).all()
    for item in items:
        try:
            with db.session.begin_nested():
                _collect(item, actor=actor)
        except Exception as error:  # noqa: BLE001 - one item never stops the day
            result.failures.append(f"{item.reference}: {type(error).__name__}: {error}")
            continue
        result.applied += 1
    return result


def _collect(item: DebitOrderItem, *, actor: Actor) -> None:
    payment = db.session.get(PaymentTransaction, item.payment_transaction_id)
    complete_pending_payment(
        payment,
        actor=actor,
        reason=f"Debit order {item.reference} collected on {item.action_date} (provisional "
        "until the NetCash statement confirms it)",
        payment_date=item.action_date,
    )
    item.status = "provisional"
    db.session.flush()


# --- the statement ---------------------------------------------------------------------------


def statement_days(today: date) -> list[date]:
    """Yesterday's statement, and that of every earlier action date (within the look-back)
    whose collections are not yet confirmed or returned: a missed day is caught up."""
    oldest = today - timedelta(days=STATEMENT_LOOKBACK_DAYS)
    waiting = db.session.scalars(
        select(DebitOrderItem.action_date)
        .join(DebitOrderBatch, DebitOrderBatch.id == DebitOrderItem.batch_id)
        .where(
            DebitOrderItem.status.in_(("submitted", "provisional")),
            DebitOrderItem.action_date < today,
            DebitOrderItem.action_date >= oldest,
            DebitOrderBatch.status.in_(("authorised", "completed")),
        )
        .distinct()
    ).all()
    return sorted({today - timedelta(days=1), *waiting})


@dataclass
class StatementResult:
    day: date
    confirmed: int = 0
    returned: int = 0
    paid: int = 0
    unmatched: int = 0
    already_seen: int = 0
    failures: list[str] = field(default_factory=list)
    ready: bool = True

    @property
    def processed(self) -> int:
        return self.confirmed + self.returned + self.paid


def reconcile_statement(
    day: date, client: NetcashClient, *, actor: Actor = STATEMENT_ACTOR
) -> StatementResult:
    """Read NetCash's statement of `day` and act on each line not seen before: confirm
    collections, reverse returns, take Pay Now payments whose notify never came."""
    result = StatementResult(day)
    polling_id = client.request_merchant_statement(day)
    lines = poll(lambda: client.retrieve_merchant_statement(polling_id))
    if lines is None:
        result.ready = False
        result.failures.append(f"NetCash statement of {day} not ready; read again next run.")
        return result
    for line in lines:
        if line.code not in SUCCESS_CODES + RETURN_CODES + PAYNOW_CODES:
            continue
        try:
            with db.session.begin_nested():
                outcome = _take_statement_line(line, day, actor=actor)
        except IntegrityError:
            outcome = "seen"  # another run took the same line at the same moment
        except Exception as error:  # noqa: BLE001 - one line never stops the statement
            result.failures.append(f"{line.transaction_id}: {type(error).__name__}: {error}")
            continue
        if outcome == "seen":
            result.already_seen += 1
        elif outcome in ("confirmed", "returned", "paid", "unmatched"):
            setattr(result, outcome, getattr(result, outcome) + 1)
    finish_batches()
    return result


def _take_statement_line(line: StatementLine, day: date, *, actor: Actor) -> str:
    """Record the line (unique on NetCash's transaction id) and act on it once."""
    seen = db.session.scalar(
        select(NetcashStatementLine.id).where(
            NetcashStatementLine.transaction_id == line.transaction_id
        )
    )
    if seen is not None:
        return "seen"
    record = NetcashStatementLine(
        transaction_id=line.transaction_id,
        statement_date=day,
        transaction_date=line.transaction_date,
        code=line.code,
        description=line.description,
        amount=line.amount,
        sign=line.sign,
        extra1=line.extra1,
        # A Pay Now line's field 9 is Extra 2, our secret: never kept.
        account_reference=None if line.code in PAYNOW_CODES else line.account_reference,
        unpaid_code=line.unpaid_code,
        outcome="unmatched",
    )
    db.session.add(record)
    db.session.flush()  # the unique transaction id is the guard against a second take
    if line.code in PAYNOW_CODES:
        from app.paynow import apply_statement_payment  # Pay Now builds on this module

        outcome, message, customer_id = apply_statement_payment(line, actor=actor)
        record.outcome, record.message, record.customer_id = outcome, message, customer_id
        return outcome
    items = list(
        db.session.scalars(
            select(DebitOrderItem)
            .where(DebitOrderItem.line_reference == (line.extra1 or ""))
            .order_by(DebitOrderItem.id)
        )
    )
    if not items:
        record.message = f"No debit-order item has the reference {line.extra1!r}."
        return "unmatched"
    record.customer_id = items[0].customer_id
    expected = sum(item.amount for item in items)
    note = (
        ""
        if expected == line.amount
        else f" (statement amount {format_rand(line.amount)}, items {format_rand(expected)})"
    )
    if line.code in SUCCESS_CODES:
        for item in items:
            _confirm(item, actor=actor)
        record.outcome = "confirmed"
        record.message = f"Collection {line.extra1} confirmed{note}."
        customer = db.session.get(Customer, items[0].customer_id)
        invoice = db.session.get(CustomerInvoice, items[0].invoice_id)
        queue_notification(
            customer,
            "payment_received",
            {
                "amount": line.amount,
                "invoice_number": invoice.invoice_number if len(items) == 1 else None,
            },
            dedupe_key=f"debit-collected-{line.transaction_id}",
        )
        return "confirmed"
    code = line.unpaid_code or "??"
    for item in items:
        _return(item, code=code, description=line.description, actor=actor)
    record.outcome = "returned"
    record.message = f"Collection {line.extra1} returned, code {code}{note}."
    return "returned"


def _confirm(item: DebitOrderItem, *, actor: Actor) -> None:
    if item.status == "submitted":  # the statement came before the action-date run
        _collect(item, actor=actor)
    if item.status == "provisional":
        item.status = "confirmed"
        db.session.flush()


def _return(item: DebitOrderItem, *, code: str, description: str, actor: Actor) -> None:
    """A returned collection: the money comes off again, the item records why, and the
    invoice is retried (02, 22) or the mandate deactivated (any other code)."""
    if item.status not in ("submitted", "provisional", "confirmed"):
        return
    reason = f"{unpaid_reason(code)} (unpaid code {code})"
    payment = db.session.get(PaymentTransaction, item.payment_transaction_id)
    if payment is not None and payment.status == "completed":
        reverse_payment(
            payment, actor=actor, reason=f"Debit order returned: {reason}", failure_code=code
        )
    elif payment is not None and payment.status == "pending":
        payment.status = "failed"
        payment.failure_code = code
        payment.failure_reason = reason
    item.status = "returned"
    item.return_code = code
    item.return_reason = (description or reason)[:2000]
    db.session.flush()
    method = db.session.get(CustomerPaymentMethod, item.payment_method_id)
    invoice = db.session.get(CustomerInvoice, item.invoice_id)
    consecutive = db.session.scalar(
        select(func.count(DebitOrderItem.id)).where(
            DebitOrderItem.invoice_id == item.invoice_id,
            DebitOrderItem.payment_method_id == item.payment_method_id,
            DebitOrderItem.status == "returned",
        )
    )
    if code in RETRY_CODES and consecutive < MAX_CONSECUTIVE_ATTEMPTS:
        collected_for = max(item.collection_date or item.action_date, item.action_date)
        item.next_attempt_date = billing_date_after(collected_for, method.debit_day)
    elif code not in RETRY_CODES:
        deactivate_payment_method(
            method,
            actor=actor,
            reason=f"NetCash returned debit order {item.reference}: {reason}",
            mandate_status="cancelled" if code in HOLDER_CANCELLED_CODES else "failed",
            allow_while_owing=True,
        )
    db.session.flush()
    _tell_customer_of_return(item, invoice, code=code, reason=reason, actor=actor)


def _tell_customer_of_return(
    item: DebitOrderItem, invoice: CustomerInvoice, *, code: str, reason: str, actor: Actor
) -> None:
    """The customer hears of the return with a Pay Now link for what is still due."""
    from app.paynow import payment_link  # Pay Now builds on this module

    customer = db.session.get(Customer, item.customer_id)
    link = payment_link(invoice, actor=actor) if amount_due(invoice) > 0 else None
    queue_notification(
        customer,
        "debit_order_returned",
        {
            "invoice_number": invoice.invoice_number,
            "amount": item.amount,
            "code": code,
            "reason": reason,
            "pay_url": link.url if link is not None else "",
            "next_attempt_date": item.next_attempt_date,
        },
        dedupe_key=f"debit-returned-{item.id}",
    )


def finish_batches() -> None:
    """Authorised batches whose items are all settled (confirmed, returned, failed)."""
    unsettled = exists().where(
        DebitOrderItem.batch_id == DebitOrderBatch.id,
        DebitOrderItem.status.in_(LIVE_ITEM_STATUSES),
    )
    for batch in db.session.scalars(
        select(DebitOrderBatch).where(DebitOrderBatch.status == "authorised", ~unsettled)
    ):
        batch.status = "completed"
    db.session.flush()


def refuse_future_date(day: date) -> None:
    if day > clock.today():
        raise InvalidInput(
            f"The debit-order run cannot be for a future date ({day}).", field="date"
        )
