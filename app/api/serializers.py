"""JSON shapes of the API (DESIGN §7): snake_case keys, money as strings with two decimals
("799.00"), dates as ISO days, instants as ISO UTC ("2026-11-15T07:00:00Z").

A period's `end` is exclusive (the next billing date), as stored; `label` prints it the
way invoices do, last day inclusive ("15 Nov – 30 Nov 2026").
"""

from datetime import UTC, date, datetime
from decimal import Decimal

from app.audit import service_action_changes
from app.billing.allocation import amount_due
from app.billing.calendar import Period
from app.billing.invoicing import InvoiceRunResult, describe_span
from app.billing.summary import AccountSummary, service_cycle
from app.lifecycle import ActionResult
from app.models import CreditNote, CustomerInvoice, CustomerService, ServiceActionLog, StaffUser


def money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:.2f}"


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def period(span: Period | None) -> dict | None:
    if span is None:
        return None
    return {"start": day(span.start), "end": day(span.end), "label": describe_span(span)}


def _span(start: date | None, end: date | None) -> str | None:
    return describe_span(Period(start, end)) if start and end else None


def service(row: CustomerService, today: date) -> dict:
    """A service; `next_billing_date` is the calendar's (end of the current period) and
    `invoiced_until` the first day not yet invoiced (the column, which runs ahead)."""
    cycle = service_cycle(row, today)
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "package_name": row.package_name,
        "service_type": row.service_type,
        "status": row.status,
        "monthly_price": money(row.monthly_price),
        "billing_date": row.billing_date,
        "current_period": period(cycle),
        "next_billing_date": day(cycle.end) if cycle else None,
        "invoiced_until": day(row.next_billing_date),
        "last_billing_date": day(row.last_billing_date),
        "activation_date": day(row.activation_date),
        "suspension_date": day(row.suspension_date),
        "cancellation_date": day(row.cancellation_date),
        "cancellation_reason": row.cancellation_reason,
        "speed_download": row.speed_download,
        "speed_upload": row.speed_upload,
        "data_cap": row.data_cap,
        "installation_address": row.installation_address,
        "connection_id": row.connection_id,
    }


def invoice(row: CustomerInvoice) -> dict:
    return {
        "id": row.id,
        "invoice_number": row.invoice_number,
        "invoice_type": row.invoice_type,
        "status": row.status,
        "customer_id": row.customer_id,
        "service_id": row.service_id,
        "invoice_date": day(row.invoice_date),
        "due_date": day(row.due_date),
        "period_start": day(row.period_start),
        "period_end": day(row.period_end),
        "period_label": _span(row.period_start, row.period_end),
        "subtotal": money(row.subtotal),
        "vat_rate": money(row.vat_rate),
        "vat_amount": money(row.vat_amount),
        "total_amount": money(row.total_amount),
        "amount_paid": money(row.amount_paid),
        "amount_credited": money(row.amount_credited),
        "amount_due": money(amount_due(row)),
        "line_items": row.line_items,
    }


def credit_note(row: CreditNote) -> dict:
    return {
        "id": row.id,
        "credit_note_number": row.credit_note_number,
        "invoice_id": row.invoice_id,
        "invoice_number": row.invoice.invoice_number,
        "credit_note_date": day(row.credit_note_date),
        "period_start": day(row.period_start),
        "period_end": day(row.period_end),
        "period_label": _span(row.period_start, row.period_end),
        "subtotal": money(row.subtotal),
        "vat_rate": money(row.vat_rate),
        "vat_amount": money(row.vat_amount),
        "total_amount": money(row.total_amount),
        "reason": row.reason,
    }


def action_result(result: ActionResult, today: date) -> dict:
    """What a lifecycle action did: the service now, the documents it issued, in words."""
    return {
        "action": result.action,
        "service": service(result.service, today),
        "invoices": [invoice(row) for row in result.invoices],
        "credit_notes": [credit_note(row) for row in result.credit_notes],
        "money_effects": result.money_effects(),
    }


def staff_user(user: StaffUser | None) -> dict | None:
    return None if user is None else {"id": user.id, "name": user.name, "email": user.email}


def service_action(row: ServiceActionLog, user: StaffUser | None) -> dict:
    """One audit entry: who, when, what, why, and each changed field old → new."""
    return {
        "id": row.id,
        "at": instant(row.created_at),
        "action": row.action_type,
        "actor": {
            "type": "staff" if row.staff_user_id else "system",
            "label": row.actor,
            "staff_user": staff_user(user),
        },
        "reason": row.reason,
        "notes": row.notes,
        "previous_status": row.previous_status,
        "new_status": row.new_status,
        "changes": [
            {"field": field, "old": old, "new": new}
            for field, (old, new) in service_action_changes(row).items()
        ],
    }


def account_summary(summary: AccountSummary) -> dict:
    """The admin billing view of one customer."""
    customer = summary.customer
    totals = summary.totals
    return {
        "customer": {
            "id": customer.id,
            "account_number": customer.account_number,
            "name": customer.full_name,
            "company_name": customer.company_name,
            "email": customer.email,
            "phone": customer.phone,
            "account_status": customer.account_status,
            "account_type": customer.account_type,
        },
        "as_of": day(summary.as_of),
        "billing": {
            "account_balance": money(summary.balance),
            "balance_label": summary.balance_label,
            "credit_limit": money(summary.credit_limit),
            "primary_payment_method": summary.primary_payment_method,
            "monthly_recurring": money(summary.monthly_recurring),
        },
        "totals": {
            "invoiced": money(totals.invoiced),
            "paid": money(totals.paid),
            "credited": money(totals.credited),
            "adjusted": money(totals.adjusted),
            "outstanding": money(totals.outstanding),
            "open_invoice_count": totals.open_invoice_count,
            "overdue": money(totals.overdue),
            "overdue_invoice_count": totals.overdue_invoice_count,
        },
        "open_invoices": [
            {
                **invoice(line.invoice),
                "overdue": line.overdue,
                "days_past_due": line.days_past_due,
            }
            for line in summary.open_invoices
        ],
        "recent_payments": [
            {
                "id": line.payment.id,
                "transaction_id": line.payment.transaction_id,
                "payment_date": day(line.payment.payment_date),
                "method": line.payment.method,
                "amount": money(line.payment.amount),
                "status": line.payment.status,
                "invoice_id": line.payment.invoice_id,
                "invoice_number": line.invoice_number,
            }
            for line in summary.recent_payments
        ],
        "services": [service(line.service, summary.as_of) for line in summary.services],
    }


def invoice_run(
    result: InvoiceRunResult,
    numbers: dict[int, str | None],
    *,
    scope: str,
    dry_run: bool,
) -> dict:
    """Counts of a "generate invoices now" and the invoices issued, grouped by service."""
    by_service: dict[int, dict] = {}
    for item in result.issued:
        entry = by_service.setdefault(
            item.service_id,
            {"service_id": item.service_id, "customer_id": item.customer_id, "invoices": []},
        )
        entry["invoices"].append(
            {
                "invoice_id": None if dry_run else item.invoice_id,
                "invoice_number": numbers.get(item.invoice_id),
                "period_start": day(item.period_start),
                "total_amount": money(item.total_amount),
            }
        )
    return {
        "run_date": day(result.run_date),
        "scope": scope,
        "dry_run": dry_run,
        "generated": len(result.issued),
        "skipped": result.skipped,
        "failed": result.failed,
        "total_amount": money(result.total_amount),
        "services": list(by_service.values()),
        "failures": result.failures,
    }
