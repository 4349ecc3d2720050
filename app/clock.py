"""The one business clock (DESIGN §5.0).

Every rule asks this module for "today" (the date in Africa/Johannesburg) and "now" (an
aware UTC datetime). Tests and `flask billing simulate` pin it with `frozen_at()`; nothing
else reads the wall clock for a business date. A preview of another day inside a web
request pins it for its own thread only (`frozen_in_this_thread()`), so requests served
by other threads meanwhile keep the real date.
"""

import threading
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Africa/Johannesburg")

_pinned_now: datetime | None = None
_this_thread = threading.local()


def now() -> datetime:
    """Current instant as an aware UTC datetime (pinned when the clock is frozen)."""
    pinned_here = getattr(_this_thread, "pinned_now", None)
    if pinned_here is not None:
        return pinned_here
    if _pinned_now is not None:
        return _pinned_now
    return datetime.now(UTC)


def today() -> date:
    """Current business date: the calendar date in Africa/Johannesburg."""
    return now().astimezone(BUSINESS_TZ).date()


def business_datetime(day: date, at: time = time(0, 0)) -> datetime:
    """The UTC instant of a wall-clock time on a business date (SAST has no DST)."""
    return datetime.combine(day, at, tzinfo=BUSINESS_TZ).astimezone(UTC)


def set_now(instant: datetime | None) -> None:
    """Pin the clock to `instant` (aware), or release it with None."""
    global _pinned_now
    if instant is not None and instant.tzinfo is None:
        raise ValueError("the business clock needs an aware datetime")
    _pinned_now = instant.astimezone(UTC) if instant else None


def _instant(moment: datetime | date) -> datetime:
    """A date means 09:00 SAST on that day; an instant must be aware."""
    instant = business_datetime(moment, time(9, 0)) if type(moment) is date else moment
    if instant.tzinfo is None:
        raise ValueError("the business clock needs an aware datetime")
    return instant.astimezone(UTC)


@contextmanager
def frozen_at(moment: datetime | date):
    """Pin the clock for a block; a date means 09:00 SAST on that day."""
    previous = _pinned_now
    set_now(_instant(moment))
    try:
        yield
    finally:
        set_now(previous)


@contextmanager
def frozen_in_this_thread(moment: datetime | date):
    """Pin the clock for a block, as seen from the calling thread only (a date means 09:00
    SAST); it wins over a process-wide pin while it lasts."""
    previous = getattr(_this_thread, "pinned_now", None)
    _this_thread.pinned_now = _instant(moment)
    try:
        yield
    finally:
        _this_thread.pinned_now = previous
