"""Marking invoices overdue (DESIGN §5.5): money due and today > due date + grace."""

from datetime import date, timedelta

from sqlalchemy import select

from app.billing.allocation import refresh_status
from app.extensions import db
from app.models import CustomerInvoice
from app.settings import int_setting


def mark_overdue_invoices(today: date) -> list[CustomerInvoice]:
    """Set `overdue` on unpaid/partial invoices past due + grace; returns those changed.

    Paying an overdue invoice clears the status again (allocation refreshes it), so this
    only ever moves invoices into `overdue`.
    """
    latest_due = today - timedelta(days=int_setting("overdue_grace_days", today) + 1)
    invoices = db.session.scalars(
        select(CustomerInvoice)
        .where(
            CustomerInvoice.status.in_(("unpaid", "partial")),
            CustomerInvoice.due_date <= latest_due,
            CustomerInvoice.total_amount
            > CustomerInvoice.amount_paid + CustomerInvoice.amount_credited,
        )
        .order_by(CustomerInvoice.id)
        .with_for_update(skip_locked=True)
    ).all()
    for invoice in invoices:
        refresh_status(invoice, today)
    db.session.flush()
    return [invoice for invoice in invoices if invoice.status == "overdue"]
