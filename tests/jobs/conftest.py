"""Fixtures for job tests: an app on Redis (db 15) with a private key prefix, worker
processes, and services ready to invoice.

Every Redis key a test creates carries its prefix (queues, job ids, worker names, the
scheduler lock), so concurrent test runs never see each other's jobs and clean-up
removes only what the test made.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from app import clock, create_app
from app.accounts import create_customer
from app.audit import Actor
from app.billing.calendar import billing_date_after
from app.extensions import db
from app.models import CustomerInvoice, CustomerService
from tests.billing.conftest import billing_actor, make_service  # noqa: F401 (fixtures)
from tests.conftest import PG_DATABASE_URL, TEST_REDIS_URL, make_test_config

PROJECT_DIR = Path(__file__).resolve().parents[2]


def purge_redis(prefix: str) -> None:
    """Delete every key (and set member) that carries the prefix, and nothing else."""
    connection = redis.Redis.from_url(TEST_REDIS_URL)
    for key in connection.scan_iter(match=f"*{prefix}*", count=1000):
        connection.delete(key)
    for registry in ("rq:workers", "rq:queues"):
        for member in connection.smembers(registry):
            if prefix in member.decode():
                connection.srem(registry, member)


@pytest.fixture
def rq_prefix():
    prefix = f"t{os.getpid()}-{uuid.uuid4().hex[:8]}-"
    yield prefix
    purge_redis(prefix)


@pytest.fixture
def rq_app(app, rq_prefix):
    """A second app on the same PostgreSQL database whose jobs go to Redis (db 15)."""
    rq_app = create_app(
        make_test_config(PG_DATABASE_URL, REDIS_URL=TEST_REDIS_URL, RQ_PREFIX=rq_prefix)
    )
    yield rq_app
    with rq_app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def worker_env(rq_prefix):
    """The environment of `flask worker` processes bound to the test database and Redis."""
    return {
        **os.environ,
        "ISP_CONFIG": "test",
        "FLASK_APP": "wsgi",
        "DATABASE_URL": PG_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "RQ_PREFIX": rq_prefix,
        "INVOICE_RUN_CHUNK_SIZE": "6",
        "PYTHONUNBUFFERED": "1",
    }


class Workers:
    """`flask worker --burst` processes, each in its own session (process group)."""

    def __init__(self, env: dict, tmp_path: Path):
        self.env = env
        self.tmp_path = tmp_path
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, queues: str = "billing") -> subprocess.Popen:
        with open(self.tmp_path / f"worker-{name}.log", "wb") as log:  # the child keeps a copy
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "flask",
                    "worker",
                    "--burst",
                    "--queues",
                    queues,
                    "--name",
                    f"{self.env['RQ_PREFIX']}{name}",
                ],
                cwd=PROJECT_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.tmp_path / f"worker-{name}.log").read_text(errors="replace")

    def kill_hard(self, name: str) -> None:
        """SIGKILL the worker and its work-horse at once, as if the machine died.

        RQ puts each horse in its own process group, so it is found by its parent pid.
        """
        process = self.processes[name]
        horses = children_of(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        for pid in horses:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)

    def wait(self, name: str, timeout: float = 90) -> int:
        return self.processes[name].wait(timeout=timeout)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                for pid in children_of(process.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                process.kill()
                process.wait(timeout=10)


def children_of(parent_pid: int) -> list[int]:
    """Pids whose parent is `parent_pid` (from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces; ppid follows it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent_pid:
            children.append(int(entry.name))
    return children


@pytest.fixture
def workers(worker_env, tmp_path):
    """Start worker processes; every one is killed when the test ends, before the tables
    are emptied."""
    pool = Workers(worker_env, tmp_path)
    yield pool
    pool.stop_all()


def wait_until(condition, *, timeout: float = 60, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def many_services(app):
    """Factory: `count` customers with one active service each, billing on day 1 with the
    next invoice on `next_billing_date` (committed in one transaction)."""

    def _make(count: int, *, next_billing_date=date(2026, 12, 1), created=date(2026, 1, 10)):
        actor = Actor.system("pytest")
        with clock.frozen_at(created):
            for number in range(count):
                customer = create_customer(
                    actor=actor,
                    reason="test fixture",
                    first_name="Naledi",
                    last_name=f"Mokoena{number}",
                    email=f"naledi{number}-{uuid.uuid4().hex[:4]}@example.co.za",
                )
                db.session.add(
                    CustomerService(
                        customer_id=customer.id,
                        service_type="fibre",
                        package_name="Fibre 50",
                        installation_address=f"{number + 1} Vilakazi Street, Orlando West",
                        monthly_price=Decimal("599.00"),
                        installation_fee=Decimal("0.00"),
                        router_fee=Decimal("0.00"),
                        billing_date=1,
                        next_billing_date=next_billing_date,
                        status="active",
                        activation_date=date(2026, 1, 1),
                    )
                )
            db.session.commit()
        return db.session.scalars(select(CustomerService).order_by(CustomerService.id)).all()

    return _make


def period_coverage_problems(invoiced_through: date) -> list[str]:
    """Every active service has exactly one live recurring or pro-rata invoice per billed
    period, without overlaps, from its first invoiced period up to its `next_billing_date`,
    which lies beyond `invoiced_through`. The only gaps allowed are the days of a
    skip-billing suspension, ending on the reactivation date (billed pro-rata from there)."""
    problems = []
    services = db.session.scalars(
        select(CustomerService).where(CustomerService.status == "active")
    ).all()
    for service in services:
        invoices = db.session.scalars(
            select(CustomerInvoice)
            .where(
                CustomerInvoice.service_id == service.id,
                CustomerInvoice.invoice_type.in_(("recurring", "pro_rata")),
                CustomerInvoice.status != "cancelled",
            )
            .order_by(CustomerInvoice.period_start)
        ).all()
        if service.next_billing_date <= invoiced_through:
            problems.append(f"service {service.id}: not invoiced from {service.next_billing_date}")
        if not invoices:
            continue
        for invoice in invoices:
            expected_end = billing_date_after(invoice.period_start, service.billing_date)
            if invoice.period_end != expected_end:
                problems.append(f"{invoice}: period ends {invoice.period_end}, not {expected_end}")
        skipped = _skip_billing_gaps(service)
        for earlier, later in zip(invoices, invoices[1:], strict=False):
            gap = (earlier.covered_until, later.period_start)
            if gap[0] != gap[1] and not any(
                suspended_on <= gap[0] and reactivated_on == gap[1]
                for suspended_on, reactivated_on in skipped
            ):
                problems.append(
                    f"service {service.id}: {earlier} covers until {earlier.covered_until}, "
                    f"{later} starts {later.period_start}"
                )
        if invoices[-1].period_end != service.next_billing_date:
            problems.append(
                f"service {service.id}: last period ends {invoices[-1].period_end}, "
                f"next billing date {service.next_billing_date}"
            )
    return problems


def _skip_billing_gaps(service) -> list[tuple[date, date]]:
    """(suspension date, reactivation date) of the service's closed skip-billing suspensions."""
    from app.models import ServiceSuspension

    rows = db.session.scalars(
        select(ServiceSuspension).where(
            ServiceSuspension.service_id == service.id,
            ServiceSuspension.skip_billing.is_(True),
            ServiceSuspension.reactivated_at.is_not(None),
        )
    ).all()
    return [
        (
            row.suspended_at.astimezone(clock.BUSINESS_TZ).date(),
            row.reactivated_at.astimezone(clock.BUSINESS_TZ).date(),
        )
        for row in rows
    ]
