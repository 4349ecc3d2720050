"""API fixtures: services ready for lifecycle actions (the billing ones) and URL helpers."""

import pytest

from tests.billing.conftest import billing_actor, make_service  # noqa: F401


def action_url(customer_id: int, action: str) -> str:
    return f"/api/admin/customers/{customer_id}/services/{action}"


def audit_url(customer_id: int, service_id: int, query: str = "") -> str:
    return f"/api/admin/customers/{customer_id}/services/{service_id}/audit{query}"


def billing_url(customer_id: int) -> str:
    return f"/api/admin/customers/{customer_id}/billing"


GENERATE_URL = "/api/admin/billing/generate-invoices-now"


@pytest.fixture
def pending_service(make_service):  # noqa: F811 (the fixture imported above)
    """A Fibre 100 service at R799 billing on the 1st, waiting for activation."""
    return make_service(
        status="pending", next_billing_date=None, activation_date=None, connection_id="ct-0001"
    )
