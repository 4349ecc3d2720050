"""Usage fixtures: the business date pinned, services with Interstellio connection ids."""

import uuid
from datetime import date

import pytest

from app import clock
from app.accounts import create_customer
from app.audit import Actor
from app.extensions import db
from app.models import CustomerService
from tests.billing.conftest import billing_actor, make_service  # noqa: F401 (fixtures)

TODAY = date(2026, 11, 20)


@pytest.fixture(autouse=True)
def pinned_clock():
    """Every usage test runs on 20 Nov 2026, 09:00 SAST, unless it moves the clock."""
    with clock.frozen_at(TODAY):
        yield


@pytest.fixture
def usage_service(make_service):  # noqa: F811 (the imported fixture)
    """Factory: an active service with a connection id, activated 1 Nov 2026 by default."""

    def _make(connection_id: str, **fields):
        fields.setdefault("data_cap", "Unlimited")
        fields.setdefault("activation_date", date(2026, 11, 1))
        fields.setdefault("next_billing_date", date(2026, 12, 1))
        return make_service(connection_id=connection_id, **fields)

    return _make


@pytest.fixture
def many_usage_services(app):
    """Factory: `count` customers with one active capped service each (one commit)."""

    def _make(count: int, *, prefix: str = "CT-BULK", data_cap: str = "500GB"):
        actor = Actor.system("pytest")
        for number in range(count):
            customer = create_customer(
                actor=actor,
                reason="test fixture",
                first_name="Naledi",
                last_name=f"Mokoena{number}",
                email=f"naledi{number}-{uuid.uuid4().hex[:4]}@example.co.za",
                phone="082 555 0101",
            )
            db.session.add(
                CustomerService(
                    customer_id=customer.id,
                    service_type="fibre",
                    package_name="Fibre 50",
                    installation_address=f"{number + 1} Vilakazi Street, Orlando West",
                    monthly_price=399,
                    billing_date=1,
                    next_billing_date=date(2026, 12, 1),
                    status="active",
                    activation_date=date(2026, 11, 1),
                    connection_id=f"{prefix}-{number:04d}",
                    data_cap=data_cap,
                )
            )
        db.session.commit()
        return db.session.scalars(db.select(CustomerService).order_by(CustomerService.id)).all()

    return _make
