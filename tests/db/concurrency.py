"""Real concurrent transactions for the numbering tests: one thread, app context, session
and PostgreSQL connection each, all released at the same moment."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from app import clock
from app.extensions import db
from tests.db import rows

BUSINESS_DAY = date(2026, 11, 25)


def run_concurrently(flask_app, work, count: int) -> list:
    """Run `work(i)` then commit in `count` threads released together (clock pinned to
    BUSINESS_DAY); returns (result, started, finished) per thread."""
    barrier = threading.Barrier(count, timeout=30)

    def one(i):
        with flask_app.app_context():
            try:
                barrier.wait()
                started = time.monotonic()
                result = work(i)
                db.session.commit()
                return result, started, time.monotonic()
            finally:
                db.session.remove()

    with clock.frozen_at(BUSINESS_DAY), ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def overlapped(outcomes) -> bool:
    """Whether at least two of the transactions were in flight at the same time."""
    spans = sorted((started, finished) for _, started, finished in outcomes)
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def create_customers_concurrently(flask_app, count: int) -> list[str]:
    """`count` customers created at once; returns the account numbers they were given."""

    def create(i):
        return rows.customer(email=f"concurrent-{i}@example.co.za").account_number

    outcomes = run_concurrently(flask_app, create, count)
    assert overlapped(outcomes), "the transactions ran one after another"
    return [number for number, _, _ in outcomes]
