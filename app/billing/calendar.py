"""The billing calendar (DESIGN §5.3): billing dates, periods and spans. Pure functions.

A service bills on day 1, 5, 25 or 30; in a month without that day (30 in February) the
billing date is the month's last day. A period runs from one billing date (inclusive) to
the next (exclusive). Periods are always derived from the billing day and the calendar,
never by adding a month to the previous date (which would drift to the 28th).
"""

import calendar
from dataclasses import dataclass
from datetime import date

BILLING_DAYS = (1, 5, 25, 30)


@dataclass(frozen=True)
class Period:
    """A billing period [start, end): `end` is the next billing date."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __contains__(self, day: date) -> bool:
        return self.start <= day < self.end


def _check_billing_day(billing_day: int) -> None:
    if billing_day not in BILLING_DAYS:
        raise ValueError(f"billing day must be one of {BILLING_DAYS}, not {billing_day!r}")


def billing_date_in_month(year: int, month: int, billing_day: int) -> date:
    """The billing date of a month: the billing day, or the month's last day if shorter."""
    _check_billing_day(billing_day)
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(billing_day, last_day))


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def billing_date_on_or_before(day: date, billing_day: int) -> date:
    """The last billing date ≤ `day`: the start of the period containing `day`."""
    this_month = billing_date_in_month(day.year, day.month, billing_day)
    if this_month <= day:
        return this_month
    year, month = _shift_month(day.year, day.month, -1)
    return billing_date_in_month(year, month, billing_day)


def billing_date_after(day: date, billing_day: int) -> date:
    """The first billing date strictly after `day`."""
    this_month = billing_date_in_month(day.year, day.month, billing_day)
    if this_month > day:
        return this_month
    year, month = _shift_month(day.year, day.month, 1)
    return billing_date_in_month(year, month, billing_day)


def billing_date_on_or_after(day: date, billing_day: int) -> date:
    """The first billing date ≥ `day`."""
    this_month = billing_date_in_month(day.year, day.month, billing_day)
    return this_month if this_month >= day else billing_date_after(day, billing_day)


def period_containing(day: date, billing_day: int) -> Period:
    """The period [P, N) with P the last billing date ≤ `day` and N the next one after P."""
    start = billing_date_on_or_before(day, billing_day)
    return Period(start, billing_date_after(start, billing_day))


def periods_between(start: date, end: date, billing_day: int) -> list[Period]:
    """The pieces of the span [start, end) cut at billing dates, each inside one period.

    Every piece is returned as the intersection of the span with its period; pieces are
    in date order and together cover the span exactly.
    """
    pieces = []
    cursor = start
    while cursor < end:
        period = period_containing(cursor, billing_day)
        piece_end = min(period.end, end)
        pieces.append((period, Period(cursor, piece_end)))
        cursor = piece_end
    return pieces
