"""Money rules (DESIGN §5.1, §5.4): half-up rounding, pro-rata, VAT of inclusive totals.

Pure functions on `Decimal`; floats are refused so binary rounding can never creep in.
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from app.billing.calendar import Period, periods_between

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def as_money(value) -> Decimal:
    """`value` as a Decimal rounded half-up to the cent; floats are refused."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def prorate(monthly_price: Decimal, used_days: int, period_days: int) -> Decimal:
    """The price of `used_days` of a `period_days` period, half-up to the cent."""
    if period_days <= 0 or not 0 <= used_days <= period_days:
        raise ValueError(f"cannot prorate {used_days} of {period_days} days")
    if isinstance(monthly_price, float):
        raise TypeError("money must not be a float")
    return as_money(Decimal(monthly_price) * used_days / period_days)


@dataclass(frozen=True)
class ChargePiece:
    """The charge for the days of one period within a span."""

    period: Period
    span: Period
    amount: Decimal

    @property
    def is_whole_period(self) -> bool:
        return self.span == self.period


def charge_for_span(
    monthly_price: Decimal, billing_day: int, start: date, end: date
) -> list[ChargePiece]:
    """The charge for service days [start, end), split per period (one rule for everything)."""
    return [
        ChargePiece(period, span, prorate(monthly_price, span.days, period.days))
        for period, span in periods_between(start, end, billing_day)
    ]


@dataclass(frozen=True)
class VatSplit:
    subtotal: Decimal
    vat_amount: Decimal
    total: Decimal


def split_vat(total: Decimal, rate_percent: Decimal) -> VatSplit:
    """Split a VAT-inclusive total: VAT = total × rate / (100 + rate), half-up."""
    total = as_money(total)
    rate = Decimal(rate_percent)
    vat = as_money(total * rate / (Decimal(100) + rate))
    return VatSplit(subtotal=total - vat, vat_amount=vat, total=total)


def format_rand(amount: Decimal) -> str:
    """ "R1 234.56" (negative as "-R12.00"): South African style, space thousands."""
    amount = as_money(amount)
    sign = "-" if amount < 0 else ""
    whole, cents = f"{abs(amount):.2f}".split(".")
    grouped = f"{int(whole):,}".replace(",", " ")
    return f"{sign}R{grouped}.{cents}"
