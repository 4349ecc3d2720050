"""Shared fixtures: a real PostgreSQL database per test run, Redis required, app and clients.

PostgreSQL and Redis must be reachable: the run stops with an error (never skips) when
they are not. Each pytest process creates its own database `isp_test_<pid>`, migrates it
with the project's Alembic history, and drops it at the end; tables are emptied after
every test.
"""

import os
from contextlib import contextmanager

import psycopg
import pytest
import redis
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from app.audit import Actor
from app.extensions import db, limiter
from config import TestConfig

ADMIN_PG_URL = os.environ.get("ISP_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("ISP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_DB_NAME = f"isp_test_{os.getpid()}"
COUNTER_TABLES = ("account_number_counter", "invoice_number_counter", "credit_note_number_counter")
TEST_PASSWORD = "correct horse battery"


def _pg_url(database: str) -> str:
    base, _, _ = ADMIN_PG_URL.rpartition("/")
    return f"{base}/{database}"


def pytest_sessionstart(session):
    """Fail the whole run at once when PostgreSQL or Redis is missing."""
    try:
        with psycopg.connect(ADMIN_PG_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB_NAME}"')
            conn.execute(f'CREATE DATABASE "{TEST_DB_NAME}"')
    except psycopg.Error as error:
        pytest.exit(f"PostgreSQL is required for the tests ({ADMIN_PG_URL}): {error}", 3)
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as error:
        pytest.exit(f"Redis is required for the tests ({TEST_REDIS_URL}): {error}", 3)


def pytest_sessionfinish(session, exitstatus):
    """Drop the database this process created (and only that one)."""
    try:
        with psycopg.connect(ADMIN_PG_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB_NAME}" WITH (FORCE)')
    except psycopg.Error:
        pass


def make_test_config(database_url: str, **overrides) -> type:
    """A TestConfig subclass bound to `database_url`."""
    return type(
        "BoundTestConfig",
        (TestConfig,),
        {"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None, **overrides},
    )


PG_DATABASE_URL = _pg_url(TEST_DB_NAME).replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def pg_app():
    """The app on this run's PostgreSQL database, migrated once."""
    app = create_app(make_test_config(PG_DATABASE_URL))
    with app.app_context():
        upgrade()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def empty_all_tables() -> None:
    """Remove every row (counters reset to zero) so the next test starts clean."""
    tables = [t.name for t in db.metadata.sorted_tables if t.name not in COUNTER_TABLES]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables):
            db.session.execute(text(f"DELETE FROM {table}"))
    for table in COUNTER_TABLES:
        db.session.execute(text(f"UPDATE {table} SET last_number = 0, last_year = NULL"))
    db.session.commit()


@pytest.fixture
def app(pg_app):
    """The PostgreSQL app inside an app context; all tables emptied afterwards."""
    with pg_app.app_context():
        yield pg_app
        db.session.rollback()
        db.session.remove()
        empty_all_tables()
    limiter.reset()


@pytest.fixture
def sqlite_app(tmp_path):
    """A fresh app on a migrated throwaway SQLite file (for dialect-specific tests)."""
    url = f"sqlite:///{tmp_path / 'isp.db'}"
    app = create_app(make_test_config(url))
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    Without this, requests would reuse the test's app context and with it `g` (where
    Flask-Login caches the user) and the test's database session.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def live_server(pg_app):
    """The PostgreSQL app served over HTTP on loopback (for provider postbacks, browsers)."""
    from app.integrations.sandbox import _ServerThread

    server = _ServerThread(pg_app)
    yield server.base_url
    server.stop()


@pytest.fixture(scope="session")
def running_sandboxes(live_server):
    """The provider sandboxes of this test process, posting back to `live_server`."""
    from app.integrations.sandbox import start_sandboxes

    sandboxes = start_sandboxes(app_base_url=live_server)
    yield sandboxes
    sandboxes.stop()


@pytest.fixture
def sandboxes(app, running_sandboxes, live_server, tmp_path):
    """The app pointed at freshly reset provider sandboxes for one test.

    Without this fixture the test app has no provider URLs: integrations are off. Invoice
    PDFs (e-mail attachments) go to the test's own directory: numbers restart per test.
    """
    running_sandboxes.reset()
    overrides = {
        **running_sandboxes.config,
        "PUBLIC_BASE_URL": live_server,
        "INVOICE_STORAGE_DIR": str(tmp_path / "invoices"),
    }
    saved = {key: app.config.get(key) for key in overrides}
    app.config.update(overrides)
    yield running_sandboxes
    app.config.update(saved)
    running_sandboxes.reset()


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def system_actor():
    return Actor.system("pytest")


@pytest.fixture
def make_staff(app, system_actor):
    """Factory: a committed staff user with the given role."""
    from app.auth import create_staff_user

    def _make(role="admin", email=None, password=TEST_PASSWORD, name=None):
        user = create_staff_user(
            email=email or f"{role}-{os.urandom(3).hex()}@staff.isp-console.co.za",
            name=name or f"Test {role.title()}",
            role=role,
            password=password,
            actor=system_actor,
            reason="test fixture",
        )
        db.session.commit()
        return user

    return _make


@pytest.fixture
def make_customer(app, system_actor):
    """Factory: a committed customer with a billing profile and an account number."""
    from app.accounts import create_customer

    counter = {"n": 0}

    def _make(**fields):
        counter["n"] += 1
        fields.setdefault("first_name", "Thandi")
        fields.setdefault("last_name", f"Nkosi{counter['n']}")
        fields.setdefault("email", f"customer{counter['n']}-{os.urandom(2).hex()}@example.co.za")
        fields.setdefault("phone", "082 555 0101")
        customer = create_customer(actor=system_actor, reason="test fixture", **fields)
        db.session.commit()
        return customer

    return _make


class AuthActions:
    """Log a staff user in and out through the real login form."""

    def __init__(self, client, make_staff):
        self._client = client
        self._make_staff = make_staff
        self.user = None

    def login(self, role="admin", password=TEST_PASSWORD):
        self.user = self._make_staff(role=role, password=password)
        response = self._client.post(
            "/admin/login", data={"email": self.user.email, "password": password}
        )
        assert response.status_code == 302, response.data[:500]
        return self.user

    def logout(self):
        return self._client.post("/admin/logout")


@pytest.fixture
def auth(client, make_staff):
    return AuthActions(client, make_staff)


class PortalAuth:
    """Register a customer's portal login and log in with it, as the customer would."""

    def __init__(self, client, make_customer):
        self._client = client
        self._make_customer = make_customer
        self.customer = None
        self._registered: set[int] = set()

    def register(self, customer=None, password=TEST_PASSWORD):
        customer = customer or self._make_customer()
        response = self._client.post(
            "/register",
            data={
                "email": customer.email,
                "account_number": customer.account_number,
                "password": password,
                "password_confirm": password,
            },
        )
        assert response.status_code == 302, response.data[:500]
        self._registered.add(customer.id)
        return customer

    def login(self, customer=None, password=TEST_PASSWORD, *, register=True):
        """Log `customer` (a new one when None) in; registers the portal login first."""
        customer = customer or self._make_customer()
        if register and customer.id not in self._registered:
            self.register(customer, password)
        response = self._client.post("/login", data={"email": customer.email, "password": password})
        assert response.status_code == 302, response.data[:500]
        self.customer = customer
        return customer

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def portal_auth(client, make_customer):
    return PortalAuth(client, make_customer)


@contextmanager
def pg_connection(database: str = TEST_DB_NAME):
    """A raw psycopg connection to this run's database (for concurrency tests)."""
    with psycopg.connect(_pg_url(database)) as conn:
        yield conn
