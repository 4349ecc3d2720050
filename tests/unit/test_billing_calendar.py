"""The billing calendar: billing dates, periods and spans for every billing day."""

import calendar as stdlib_calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.billing.calendar import (
    BILLING_DAYS,
    Period,
    billing_date_after,
    billing_date_in_month,
    billing_date_on_or_after,
    billing_date_on_or_before,
    period_containing,
    periods_between,
)

# Months of every length: Feb 2027 (28), Feb 2028 (29, leap), Nov 2026 (30), Dec 2026 (31).
MONTHS = [(2027, 2), (2028, 2), (2026, 11), (2026, 12)]


def _expected_billing_date(year, month, day):
    return date(year, month, min(day, stdlib_calendar.monthrange(year, month)[1]))


@pytest.mark.parametrize(
    "year, month, billing_day, expected",
    [
        (2027, 2, 30, date(2027, 2, 28)),
        (2028, 2, 30, date(2028, 2, 29)),
        (2026, 11, 30, date(2026, 11, 30)),
        (2026, 12, 30, date(2026, 12, 30)),
        (2027, 2, 25, date(2027, 2, 25)),
        (2026, 4, 1, date(2026, 4, 1)),
    ],
)
def test_billing_date_clamps_to_the_last_day_of_short_months(year, month, billing_day, expected):
    assert billing_date_in_month(year, month, billing_day) == expected


@pytest.mark.parametrize("billing_day", BILLING_DAYS)
@pytest.mark.parametrize("year, month", MONTHS)
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_periods_around_each_billing_date(billing_day, year, month, offset):
    billing_date = _expected_billing_date(year, month, billing_day)
    day = billing_date + timedelta(days=offset)
    period = period_containing(day, billing_day)
    assert period.start <= day < period.end
    if offset >= 0:
        assert period.start == billing_date
    else:
        assert period.end == billing_date
    # Both ends are billing dates of their months; the period spans one calendar month.
    for end in (period.start, period.end):
        assert end == _expected_billing_date(end.year, end.month, billing_day)
    months_apart = (
        (period.end.year - period.start.year) * 12 + period.end.month - period.start.month
    )
    assert months_apart == 1
    assert billing_date_on_or_before(day, billing_day) == period.start
    assert billing_date_after(day, billing_day) == period.end
    expected_next = billing_date if offset <= 0 else period.end
    assert billing_date_on_or_after(day, billing_day) == expected_next


def test_day_30_never_drifts_to_the_28th_after_february():
    dates = [date(2027, 1, 30)]
    for _ in range(3):
        dates.append(billing_date_after(dates[-1], 30))
    assert dates == [date(2027, 1, 30), date(2027, 2, 28), date(2027, 3, 30), date(2027, 4, 30)]


def test_year_end_period_crosses_into_january():
    assert period_containing(date(2026, 12, 31), 25) == Period(
        date(2026, 12, 25), date(2027, 1, 25)
    )
    assert period_containing(date(2027, 1, 3), 5) == Period(date(2026, 12, 5), date(2027, 1, 5))


def test_period_for_day_30_in_a_leap_february():
    assert period_containing(date(2028, 2, 10), 30) == Period(date(2028, 1, 30), date(2028, 2, 29))
    assert period_containing(date(2028, 2, 29), 30) == Period(date(2028, 2, 29), date(2028, 3, 30))


def test_unknown_billing_day_is_refused():
    with pytest.raises(ValueError, match="billing day"):
        period_containing(date(2026, 1, 1), 15)


@given(
    start=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    length=st.integers(0, 400),
    billing_day=st.sampled_from(BILLING_DAYS),
)
def test_span_pieces_cover_the_span_exactly_within_single_periods(start, length, billing_day):
    end = start + timedelta(days=length)
    pieces = periods_between(start, end, billing_day)
    assert sum(span.days for _, span in pieces) == length
    cursor = start
    for period, span in pieces:
        assert span.start == cursor and period.start <= span.start and span.end <= period.end
        cursor = span.end
    assert cursor == end or length == 0
