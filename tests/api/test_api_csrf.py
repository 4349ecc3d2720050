"""With CSRF protection on (as in production), an unsafe API call needs the page's token
in the X-CSRFToken header; a refusal is a JSON error like every other."""

import re

import pytest
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import CustomerService
from tests.api.conftest import GENERATE_URL, action_url, billing_url
from tests.conftest import PG_DATABASE_URL, TEST_PASSWORD, make_test_config

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture
def csrf_client(app):
    """A client of a second app on the same database, with CSRF enforced.

    Requesting `app` keeps the usual table cleanup after the test.
    """
    protected_app = create_app(make_test_config(PG_DATABASE_URL, WTF_CSRF_ENABLED=True))
    yield protected_app.test_client()
    with protected_app.app_context():
        db.engine.dispose()


def _token(page) -> str:
    return CSRF_META.search(page.get_data(as_text=True)).group(1)


def _log_in(client, user) -> str:
    """Log in through the form; returns the token of a page served in the new session."""
    login_page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": _token(login_page)},
    )
    assert response.status_code == 302
    return _token(client.get("/"))  # login starts a fresh session, with a fresh token


def test_a_post_without_the_csrf_header_is_refused_and_with_it_succeeds(
    csrf_client, make_staff, make_service
):
    service = make_service(status="pending", next_billing_date=None, activation_date=None)
    token = _log_in(csrf_client, make_staff("support"))
    body = {"service_id": service.id, "reason": "Installed"}
    url = action_url(service.customer_id, "activate")

    without = csrf_client.post(url, json=body)
    wrong = csrf_client.post(url, json=body, headers={"X-CSRFToken": "not-the-token"})

    for refused in (without, wrong):
        assert refused.status_code == 400
        assert refused.json["error"]["code"] == "bad_request"
        assert "CSRF" in refused.json["error"]["message"]
    db.session.expire_all()
    assert db.session.scalar(select(CustomerService.status)) == "pending"

    accepted = csrf_client.post(url, json=body, headers={"X-CSRFToken": token})

    assert accepted.status_code == 200, accepted.json
    assert accepted.json["service"]["status"] == "active"


def test_reading_needs_no_csrf_token(csrf_client, make_staff, make_customer):
    customer = make_customer()
    _log_in(csrf_client, make_staff("viewer"))
    assert csrf_client.get(billing_url(customer.id)).status_code == 200


def test_csrf_is_checked_before_anything_else(csrf_client):
    response = csrf_client.post(GENERATE_URL, json={"reason": "x"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
