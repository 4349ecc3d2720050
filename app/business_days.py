"""South African business days: weekends and public holidays (DESIGN §5.5, §5.9).

Public holidays come from the `holidays` package (Public Holidays Act, including Sunday
→ Monday moves) plus an operator override list, the setting `extra_public_holidays`
(comma-separated ISO dates, e.g. a day declared by the President at short notice).
"""

from datetime import date, timedelta
from functools import lru_cache

import holidays

from app.settings import setting_on


@lru_cache(maxsize=32)
def _statutory_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("ZA", years=year).keys())


def extra_holidays(on_date: date) -> frozenset[date]:
    """The operator's additional public holidays in force on a date."""
    raw = setting_on("extra_public_holidays", on_date)
    return frozenset(date.fromisoformat(part.strip()) for part in raw.split(",") if part.strip())


def is_public_holiday(day: date) -> bool:
    return day in _statutory_holidays(day.year) or day in extra_holidays(day)


def is_business_day(day: date) -> bool:
    """Monday to Friday and not a South African public holiday."""
    return day.weekday() < 5 and not is_public_holiday(day)


def add_business_days(day: date, count: int) -> date:
    """The date `count` business days after `day` (not counting `day` itself)."""
    current = day
    remaining = count
    while remaining > 0:
        current += timedelta(days=1)
        if is_business_day(current):
            remaining -= 1
    return current
