"""Pro-rata and VAT: the worked examples of DESIGN §5.4 and the properties behind them."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.billing.calendar import BILLING_DAYS, period_containing
from app.billing.money import as_money, charge_for_span, format_rand, prorate, split_vat

PRICES = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("99999.99"), places=2)


def test_activation_on_15_november_bills_16_of_30_days():
    (piece,) = charge_for_span(Decimal("799.00"), 1, date(2026, 11, 15), date(2026, 12, 1))
    assert (piece.span.days, piece.period.days, piece.amount) == (16, 30, Decimal("426.13"))


def test_activation_on_the_billing_date_bills_the_whole_period():
    (piece,) = charge_for_span(Decimal("799.00"), 1, date(2026, 11, 1), date(2026, 12, 1))
    assert piece.amount == Decimal("799.00") and piece.is_whole_period


def test_day_30_activation_on_10_february_2027_bills_18_of_29_days():
    period = period_containing(date(2027, 2, 10), 30)
    assert (period.start, period.end, period.days) == (date(2027, 1, 30), date(2027, 2, 28), 29)
    (piece,) = charge_for_span(Decimal("799.00"), 30, date(2027, 2, 10), period.end)
    assert piece.amount == Decimal("495.93")


def test_prorate_rounds_half_up():
    assert prorate(Decimal("0.05"), 1, 2) == Decimal("0.03")  # 0.025 -> 0.03
    assert prorate(Decimal("100.00"), 1, 3) == Decimal("33.33")


def test_vat_is_the_inclusive_fraction_of_the_total_half_up():
    split = split_vat(Decimal("799.00"), Decimal("15"))
    assert split.vat_amount == Decimal("104.22")  # 799 * 15 / 115 = 104.2173...
    assert split.subtotal == Decimal("694.78")
    assert split_vat(Decimal("426.13"), Decimal("15")).vat_amount == Decimal("55.58")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        as_money(1.1)
    with pytest.raises(TypeError):
        prorate(799.0, 1, 30)


def test_rand_amounts_are_formatted_south_african_style():
    assert format_rand(Decimal("1234.5")) == "R1 234.50"
    assert format_rand(Decimal("-12")) == "-R12.00"


@given(
    price=PRICES,
    day=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    billing_day=st.sampled_from(BILLING_DAYS),
)
def test_a_whole_period_costs_the_monthly_price(price, day, billing_day):
    period = period_containing(day, billing_day)
    (piece,) = charge_for_span(price, billing_day, period.start, period.end)
    assert piece.amount == price


@given(total=PRICES, rate=st.sampled_from([Decimal("14"), Decimal("15"), Decimal("15.5")]))
def test_subtotal_plus_vat_is_the_total(total, rate):
    split = split_vat(total, rate)
    assert split.subtotal + split.vat_amount == split.total == total
    assert split.vat_amount >= 0


@given(
    price=PRICES,
    day=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    cut=st.integers(0, 40),
    billing_day=st.sampled_from(BILLING_DAYS),
)
def test_a_span_split_at_any_day_sums_to_the_whole_within_a_cent(price, day, cut, billing_day):
    period = period_containing(day, billing_day)
    split_at = min(period.start + timedelta(days=cut), period.end)
    whole = sum(p.amount for p in charge_for_span(price, billing_day, period.start, period.end))
    parts = sum(
        p.amount for p in charge_for_span(price, billing_day, period.start, split_at)
    ) + sum(p.amount for p in charge_for_span(price, billing_day, split_at, period.end))
    assert abs(parts - whole) <= Decimal("0.01")
