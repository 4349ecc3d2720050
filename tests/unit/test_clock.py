"""The business clock: SAST dates from UTC instants, pinned by tests and simulations."""

import threading
from datetime import UTC, date, datetime

import pytest

from app import clock


def test_today_is_the_johannesburg_date_not_the_utc_date():
    late_utc_evening = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)
    with clock.frozen_at(late_utc_evening):
        assert clock.today() == date(2027, 1, 1)
        assert clock.now() == late_utc_evening


def test_frozen_date_means_nine_in_the_morning_sast():
    with clock.frozen_at(date(2026, 11, 15)):
        assert clock.today() == date(2026, 11, 15)
        assert clock.now() == datetime(2026, 11, 15, 7, 0, tzinfo=UTC)


def test_frozen_clock_is_released_after_the_block():
    with clock.frozen_at(date(2001, 1, 1)):
        pass
    assert clock.today() != date(2001, 1, 1)


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="aware"):
        clock.set_now(datetime(2026, 1, 1))


def test_business_datetime_converts_sast_wall_time_to_utc():
    instant = clock.business_datetime(date(2026, 11, 25), datetime(2026, 1, 1, 2, 0).time())
    assert instant == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


def test_a_pin_for_this_thread_leaves_other_threads_on_the_process_clock():
    seen_elsewhere = []
    with clock.frozen_at(date(2026, 11, 24)), clock.frozen_in_this_thread(date(2026, 11, 28)):
        other = threading.Thread(target=lambda: seen_elsewhere.append(clock.today()))
        other.start()
        other.join()
        assert clock.today() == date(2026, 11, 28)
    assert seen_elsewhere == [date(2026, 11, 24)]
