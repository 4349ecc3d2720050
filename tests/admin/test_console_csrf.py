"""With CSRF protection on (as in production), a console edit needs the page's token."""

import pytest

from app import create_app
from app.extensions import db
from app.models import Customer
from tests.conftest import PG_DATABASE_URL, TEST_PASSWORD, make_test_config


@pytest.fixture
def csrf_client(app):
    """A client of a second app on the same database, with CSRF enforced.

    Requesting `app` keeps the usual table cleanup after the test.
    """
    protected_app = create_app(make_test_config(PG_DATABASE_URL, WTF_CSRF_ENABLED=True))
    yield protected_app.test_client()
    with protected_app.app_context():
        db.engine.dispose()


def test_edit_without_the_csrf_token_is_refused_and_with_it_succeeds(
    csrf_client, make_customer, make_staff, csrf_token_of
):
    customer = make_customer(first_name="Thandi")
    staff = make_staff("support")
    login_page = csrf_client.get("/admin/login")
    logged_in = csrf_client.post(
        "/admin/login",
        data={
            "email": staff.email,
            "password": TEST_PASSWORD,
            "csrf_token": csrf_token_of(login_page),
        },
    )
    assert logged_in.status_code == 302
    edit_url = f"/admin/customers/edit/?id={customer.id}"
    form = {
        "first_name": "Renamed",
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
        "account_type": "residential",
        "reason": "Customer asked by phone",
    }

    without_token = csrf_client.post(edit_url, data=form)

    assert without_token.status_code == 400
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).first_name == "Thandi"

    token = csrf_token_of(csrf_client.get(edit_url))
    with_token = csrf_client.post(edit_url, data={**form, "csrf_token": token})

    assert with_token.status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).first_name == "Renamed"
