"""Operator settings that change over time (DESIGN §4 `settings`): the row in force wins.

Each key may have several rows with different `effective_from` dates; the value on a date
is that of the latest row starting on or before it, else the default below.
"""

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import Setting

DEFAULTS: dict[str, str] = {
    "vat_rate": "15.00",
    "payment_terms_days": "7",
    "overdue_grace_days": "3",
    "invoice_days_ahead": "7",
    "credit_on_cancellation": "true",
    "dunning_suspension_days": "14",
    "auto_suspension_enabled": "true",
    "auto_suspension_max_per_run": "50",
    "reminder_days_before_due": "3",
    "debit_order_return_window_business_days": "5",
    "debit_order_line_limit": "5000.00",
    "debit_order_daily_limit": "200000.00",
    "extra_public_holidays": "",
}


def setting_on(key: str, on_date: date) -> str:
    """The raw value of `key` in force on `on_date`."""
    value = db.session.scalar(
        select(Setting.value)
        .where(Setting.key == key, Setting.effective_from <= on_date)
        .order_by(Setting.effective_from.desc())
        .limit(1)
    )
    if value is not None:
        return value
    try:
        return DEFAULTS[key]
    except KeyError:
        raise KeyError(f"no setting {key!r} in force on {on_date} and no default") from None


def int_setting(key: str, on_date: date) -> int:
    return int(setting_on(key, on_date))


def bool_setting(key: str, on_date: date) -> bool:
    return setting_on(key, on_date).strip().lower() in {"1", "true", "yes", "on"}


def vat_rate_on(on_date: date) -> Decimal:
    """The VAT rate (percent) in force on a date: 15.00 since 1 April 2018."""
    return Decimal(setting_on("vat_rate", on_date)).quantize(Decimal("0.01"))
