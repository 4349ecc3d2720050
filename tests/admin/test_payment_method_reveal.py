"""Revealing a payment method's full details (DESIGN §5.6): only with
`payment_methods:view_full` and a reason, audited without the values, never cached."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.audit import Actor
from app.extensions import db
from app.models import AuditLog
from app.payment_methods import add_debit_order

ACCOUNT_NUMBER = "62812345678"


@pytest.fixture
def debit_method(app, make_customer):
    customer = make_customer()
    method = add_debit_order(
        customer,
        bank_name="FNB",
        account_number=ACCOUNT_NUMBER,
        account_type="current",
        holder_name="T Mokoena",
        debit_day=1,
        mandate_amount=Decimal("799.00"),
        actor=Actor.system("test"),
        reason="test fixture",
    )
    db.session.commit()
    return method


def _reveals():
    return db.session.scalars(
        select(AuditLog).where(AuditLog.action == "reveal_payment_details")
    ).all()


def test_an_admin_reveals_the_details_with_a_reason_and_the_reveal_is_audited(
    client, auth, debit_method
):
    auth.login("admin")
    listing = client.get("/admin/payment_methods/").get_data(as_text=True)
    assert f"/admin/payment_methods/{debit_method.id}/reveal" in listing
    assert ACCOUNT_NUMBER not in listing
    form = client.get(f"/admin/payment_methods/{debit_method.id}/reveal")
    assert ACCOUNT_NUMBER not in form.get_data(as_text=True)

    response = client.post(
        f"/admin/payment_methods/{debit_method.id}/reveal",
        data={"reason": "Customer disputes the debited account"},
    )

    page = response.get_data(as_text=True)
    assert ACCOUNT_NUMBER in page
    assert "250655" in page  # FNB's universal branch code
    assert response.headers["Cache-Control"] == "no-store"
    (audit,) = _reveals()
    assert audit.reason == "Customer disputes the debited account"
    assert audit.customer_id == debit_method.customer_id
    assert "account_number" in audit.after["revealed_fields"]
    assert ACCOUNT_NUMBER not in str(audit.after)


def test_a_reveal_without_a_reason_shows_nothing_and_records_nothing(client, auth, debit_method):
    auth.login("admin")
    response = client.post(f"/admin/payment_methods/{debit_method.id}/reveal", data={"reason": ""})
    page = response.get_data(as_text=True)
    assert "A reason is required." in page
    assert ACCOUNT_NUMBER not in page
    assert _reveals() == []


@pytest.mark.parametrize("role", ["support", "finance", "viewer"])
def test_only_staff_with_view_full_may_reveal(client, auth, debit_method, role):
    auth.login(role)
    assert f"/{debit_method.id}/reveal" not in client.get("/admin/payment_methods/").get_data(
        as_text=True
    )
    response = client.post(
        f"/admin/payment_methods/{debit_method.id}/reveal", data={"reason": "curious"}
    )
    assert response.status_code == 403
    assert ACCOUNT_NUMBER not in response.get_data(as_text=True)
    assert _reveals() == []


def test_an_unknown_method_is_not_found(client, auth):
    auth.login("admin")
    assert client.get("/admin/payment_methods/999/reveal").status_code == 404
