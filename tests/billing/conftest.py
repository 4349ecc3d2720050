"""Fixtures for billing tests: services ready to bill."""

from datetime import date
from decimal import Decimal

import pytest

from app.audit import Actor
from app.extensions import db
from app.models import CustomerService


@pytest.fixture
def billing_actor():
    return Actor.system("billing-test")


@pytest.fixture
def make_service(app, make_customer):
    """Factory: an active service billing on `billing_date`, next invoice on `next_billing_date`."""

    def _make(
        customer=None,
        *,
        billing_date=1,
        monthly_price="799.00",
        next_billing_date=date(2026, 12, 1),
        status="active",
        package_name="Fibre 100",
        **fields,
    ):
        customer = customer or make_customer()
        service = CustomerService(
            customer_id=customer.id,
            service_type=fields.pop("service_type", "fibre"),
            package_name=package_name,
            installation_address=fields.pop("installation_address", "12 Jan Smuts Ave, Rosebank"),
            monthly_price=Decimal(monthly_price),
            installation_fee=Decimal(fields.pop("installation_fee", "0.00")),
            router_fee=Decimal(fields.pop("router_fee", "0.00")),
            billing_date=billing_date,
            next_billing_date=next_billing_date,
            status=status,
            activation_date=fields.pop("activation_date", date(2026, 1, 1)),
            **fields,
        )
        db.session.add(service)
        db.session.commit()
        return service

    return _make
