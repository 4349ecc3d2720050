"""POST /api/admin/customers/<id>/services/<action>: the lifecycle actions over JSON.

The tests named `test_seed_3_2_*` are the operator's group 3.2 "Admin service API"
(reference/seed-spec-digest.md §6.2), adapted to DESIGN §5.4 and §7.
"""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import clock
from app.billing.invoicing import run_invoices
from app.billing.ledger import check_books
from app.errors import Conflict
from app.extensions import db
from app.lifecycle import suspend_service
from app.models import (
    CreditNote,
    CustomerInvoice,
    CustomerService,
    ServiceActionLog,
    ServiceSuspension,
)
from tests.api.conftest import action_url


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _service(service_id: int) -> CustomerService:
    db.session.expire_all()
    return db.session.get(CustomerService, service_id)


# --- The operator's group 3.2 --------------------------------------------------------------


def test_seed_3_2_activate_returns_the_pro_rata_invoice(client, auth, pending_service):
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("support")
        response = client.post(
            action_url(pending_service.customer_id, "activate"),
            json={"service_id": pending_service.id, "reason": "Installed by the fibre team"},
        )

    assert response.status_code == 200, response.json
    body = response.json
    assert body["action"] == "activate"
    (invoice,) = body["invoices"]
    assert invoice["invoice_number"] == "INV-2026-00001"
    assert (invoice["invoice_type"], invoice["total_amount"]) == ("pro_rata", "426.13")
    assert (invoice["vat_amount"], invoice["subtotal"]) == ("55.58", "370.55")
    assert (invoice["period_start"], invoice["period_end"]) == ("2026-11-15", "2026-12-01")
    assert invoice["period_label"] == "15 Nov – 30 Nov 2026"
    assert (invoice["due_date"], invoice["amount_due"]) == ("2026-11-22", "426.13")
    assert invoice["line_items"][0]["description"].endswith("16/30 days")
    assert body["credit_notes"] == []
    assert body["money_effects"] == ["Pro-rata invoice R426.13 for 15 Nov – 30 Nov 2026"]
    service = body["service"]
    assert (service["id"], service["status"]) == (pending_service.id, "active")
    assert (service["activation_date"], service["monthly_price"]) == ("2026-11-15", "799.00")
    assert service["next_billing_date"] == "2026-12-01"
    assert service["current_period"]["start"] == "2026-11-01"
    assert _service(pending_service.id).status == "active"


def test_seed_3_2_suspend_validates_the_suspension_type(client, auth, make_service):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 20)):
        auth.login("support")
        refused = client.post(
            action_url(service.customer_id, "suspend"),
            json={"service_id": service.id, "reason": "Travel", "suspension_type": "holiday"},
        )
        missing = client.post(
            action_url(service.customer_id, "suspend"),
            json={"service_id": service.id, "reason": "Travel"},
        )
        accepted = client.post(
            action_url(service.customer_id, "suspend"),
            json={
                "service_id": service.id,
                "reason": "Customer travelling",
                "notes": "Back in January",
                "suspension_type": "customer_request",
            },
        )

    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "validation_error"
    assert "Suspension type must be one of" in refused.json["error"]["fields"]["suspension_type"]
    assert missing.status_code == 422
    assert set(missing.json["error"]["fields"]) == {"suspension_type"}
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["service"]["status"] == "suspended"
    assert accepted.json["money_effects"] == ["No money moves."]
    suspension = db.session.scalars(select(ServiceSuspension)).one()
    assert (suspension.suspension_type, suspension.skip_billing) == ("customer_request", True)


def test_seed_3_2_reactivate_returns_the_pro_rata_invoice(
    client, auth, make_service, billing_actor
):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 20)):
        suspend_service(
            service, actor=billing_actor, reason="Travel", suspension_type="customer_request"
        )
        db.session.commit()
    with clock.frozen_at(date(2026, 12, 10)):
        run_invoices(date(2026, 12, 10), actor=billing_actor)  # the skipped periods
        auth.login("support")
        response = client.post(
            action_url(service.customer_id, "reactivate"),
            json={"service_id": service.id, "reason": "Customer back home"},
        )

    assert response.status_code == 200, response.json
    (invoice,) = response.json["invoices"]
    assert (invoice["period_start"], invoice["period_end"]) == ("2026-12-10", "2027-01-01")
    assert invoice["total_amount"] == "567.03"  # 22/31 of R799
    assert invoice["invoice_number"] == "INV-2026-00001"
    assert response.json["service"]["status"] == "active"
    assert response.json["service"]["invoiced_until"] == "2027-01-01"


def test_seed_3_2_cancel_returns_the_final_invoice(client, auth, make_service):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 11, 11)):
        auth.login("support")
        response = client.post(
            action_url(service.customer_id, "cancel"),
            json={"service_id": service.id, "reason": "Bad coverage"},
        )

    assert response.status_code == 200, response.json
    (invoice,) = response.json["invoices"]
    assert (invoice["period_start"], invoice["period_end"]) == ("2026-11-01", "2026-11-11")
    assert invoice["total_amount"] == "266.33"  # 10/30 of R799
    service_json = response.json["service"]
    assert (service_json["status"], service_json["cancellation_date"]) == (
        "cancelled",
        "2026-11-11",
    )
    assert service_json["cancellation_reason"] == "Bad coverage"
    assert service_json["next_billing_date"] is None


def test_seed_3_2_permission_enforcement_services_activate(client, auth, pending_service):
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("finance")  # may record payments and run billing, not activate
        response = client.post(
            action_url(pending_service.customer_id, "activate"),
            json={"service_id": pending_service.id, "reason": "Installed"},
        )

    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert "services:activate" in response.json["error"]["message"]
    assert _service(pending_service.id).status == "pending"
    assert _count(CustomerInvoice) == 0


# --- More actions and their money -------------------------------------------------------------


def test_suspension_credits_the_period_invoiced_ahead(client, auth, make_service, billing_actor):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 25)):
        run_invoices(date(2026, 10, 25), actor=billing_actor)  # November
    with clock.frozen_at(date(2026, 11, 25)):
        run_invoices(date(2026, 11, 25), actor=billing_actor)  # December, 7 days ahead
        auth.login("support")
        response = client.post(
            action_url(service.customer_id, "suspend"),
            json={
                "service_id": service.id,
                "reason": "Customer travelling",
                "suspension_type": "customer_request",
            },
        )

    assert response.status_code == 200, response.json
    (note,) = response.json["credit_notes"]
    assert (note["credit_note_number"], note["total_amount"]) == ("CN-2026-00001", "799.00")
    assert (note["invoice_number"], note["period_label"]) == (
        "INV-2026-00002",
        "1 Dec – 31 Dec 2026",
    )
    assert response.json["money_effects"] == ["Credit note R799.00 for 1 Dec – 31 Dec 2026"]
    assert response.json["service"]["invoiced_until"] == "2026-12-01"
    assert check_books() == []


def test_suspension_can_keep_billing(client, auth, make_service):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 20)):
        auth.login("support")
        response = client.post(
            action_url(service.customer_id, "suspend"),
            json={
                "service_id": service.id,
                "reason": "Line fault",
                "suspension_type": "technical",
                "skip_billing": False,
            },
        )
    assert response.status_code == 200, response.json
    assert db.session.scalars(select(ServiceSuspension)).one().skip_billing is False


def test_price_change_credits_the_old_price_and_charges_the_new(
    client, auth, make_service, billing_actor
):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 25)):
        run_invoices(date(2026, 10, 25), actor=billing_actor)
    with clock.frozen_at(date(2026, 11, 16)):
        auth.login("support")
        response = client.post(
            action_url(service.customer_id, "change"),
            json={
                "service_id": service.id,
                "reason": "Upgrade",
                "monthly_price": "999.00",
                "package_name": "Fibre 200",
            },
        )

    assert response.status_code == 200, response.json
    (note,) = response.json["credit_notes"]
    (charge,) = response.json["invoices"]
    assert note["total_amount"] == "399.50"  # 15/30 of R799
    assert charge["total_amount"] == "499.50"  # 15/30 of R999
    assert response.json["service"]["package_name"] == "Fibre 200"
    assert response.json["service"]["monthly_price"] == "999.00"
    assert check_books() == []


@pytest.mark.parametrize(
    "price, stored",
    [(999, "999.00"), (Decimal("999.5"), "999.50"), ("1234.56", "1234.56"), (1234.56, "1234.56")],
)
def test_a_price_as_number_or_string_is_taken_exactly(client, auth, make_service, price, stored):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 16)):
        auth.login("support")
        response = client.post(
            action_url(service.customer_id, "change"),
            data=f'{{"service_id": {service.id}, "reason": "Reprice", "monthly_price": '
            + (f'"{price}"' if isinstance(price, str) else str(price))
            + "}",
            content_type="application/json",
        )
    assert response.status_code == 200, response.json
    assert response.json["service"]["monthly_price"] == stored
    assert _service(service.id).monthly_price == Decimal(stored)


def test_billing_day_change_over_the_api(client, auth, make_service, billing_actor):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 25)):
        run_invoices(date(2026, 10, 25), actor=billing_actor)
    with clock.frozen_at(date(2026, 11, 10)):
        auth.login("support")
        response = client.post(
            action_url(service.customer_id, "change"),
            json={"service_id": service.id, "reason": "Payday is the 25th", "billing_date": 25},
        )
    assert response.status_code == 200, response.json
    assert [n["total_amount"] for n in response.json["credit_notes"]] == ["559.30"]
    assert [i["total_amount"] for i in response.json["invoices"]] == ["386.61"]
    assert response.json["service"]["billing_date"] == 25


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_missing_or_blank_reason_is_refused_with_the_field_named(
    client, auth, pending_service, reason
):
    body = {"service_id": pending_service.id}
    if reason is not None:
        body["reason"] = reason
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("support")
        response = client.post(action_url(pending_service.customer_id, "activate"), json=body)

    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {"reason": "A reason is required."}
    assert _service(pending_service.id).status == "pending"


def test_every_field_at_fault_is_named_at_once(client, auth, make_customer):
    customer = make_customer()
    auth.login("support")
    response = client.post(
        action_url(customer.id, "activate"),
        json={"activationDate": "2026-11-15", "activation_date": "15/11/2026"},
    )
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {
        "service_id",
        "reason",
        "activation_date",
        "activationDate",
    }
    assert response.json["error"]["fields"]["activationDate"] == "Unknown field."


def test_an_action_on_a_service_in_the_wrong_state_is_a_conflict(client, auth, make_service):
    service = make_service(status="active", next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("support")
        response = client.post(
            action_url(service.customer_id, "activate"),
            json={"service_id": service.id, "reason": "Installed"},
        )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert "Cannot activate a service that is active" in response.json["error"]["message"]
    assert _count(ServiceActionLog) == 0


def test_a_double_submitted_action_acts_once(client, auth, pending_service):
    request = {"service_id": pending_service.id, "reason": "Installed"}
    url = action_url(pending_service.customer_id, "activate")
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("support")
        first = client.post(url, json=request)
        second = client.post(url, json=request)

    assert (first.status_code, second.status_code) == (200, 409)
    assert _count(CustomerInvoice) == 1
    assert _count(ServiceActionLog) == 1


def test_unknown_customer_and_service_are_not_found(client, auth, pending_service):
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("support")
        no_customer = client.post(
            action_url(999_999, "activate"),
            json={"service_id": pending_service.id, "reason": "Installed"},
        )
        huge_customer = client.post(
            action_url(10**20, "activate"),
            json={"service_id": pending_service.id, "reason": "Installed"},
        )
        no_service = client.post(
            action_url(pending_service.customer_id, "activate"),
            json={"service_id": 999_999, "reason": "Installed"},
        )

    for response in (no_customer, huge_customer, no_service):
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
    assert no_service.json["error"]["fields"] == {
        "service_id": "This customer has no such service."
    }


def test_a_service_of_another_customer_is_not_found(client, auth, make_customer, pending_service):
    stranger = make_customer()
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("support")
        response = client.post(
            action_url(stranger.id, "activate"),
            json={"service_id": pending_service.id, "reason": "Installed"},
        )
    assert response.status_code == 404
    assert _service(pending_service.id).status == "pending"


@pytest.mark.parametrize(
    "value, message",
    [
        ("15/11/2026", "YYYY-MM-DD"),
        ("2026-02-30", "not a date in the calendar"),
        (20261115, "YYYY-MM-DD"),
        ("2026-11-16", "future"),
        ("2026-09-15", "at most 60 days"),
    ],
)
def test_a_bad_activation_date_is_refused_naming_the_field(
    client, auth, pending_service, value, message
):
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("support")
        response = client.post(
            action_url(pending_service.customer_id, "activate"),
            json={"service_id": pending_service.id, "reason": "x", "activation_date": value},
        )
    assert response.status_code == 422
    assert message in response.json["error"]["fields"]["activation_date"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("cancellation_date", "next week"),
        ("cancellation_date", "2026-13-01"),
    ],
)
def test_a_bad_cancellation_date_is_refused_naming_the_field(
    client, auth, make_service, field, value
):
    service = make_service(next_billing_date=date(2026, 12, 1))
    auth.login("support")
    response = client.post(
        action_url(service.customer_id, "cancel"),
        json={"service_id": service.id, "reason": "x", field: value},
    )
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {field}


@pytest.mark.parametrize(
    "raw_price, message",
    [
        ("999.999", "at most two decimals"),
        ('"999.999"', "at most two decimals"),
        ('"R999"', "amount in rand"),
        ("-5", "negative"),
        ("true", "amount in rand"),
        ("1e12", "too large"),
        ('"12,50"', "amount in rand"),
    ],
)
def test_a_bad_price_is_refused_naming_the_field(client, auth, make_service, raw_price, message):
    service = make_service(next_billing_date=date(2026, 12, 1))
    auth.login("support")
    response = client.post(
        action_url(service.customer_id, "change"),
        data=f'{{"service_id": {service.id}, "reason": "x", "monthly_price": {raw_price}}}',
        content_type="application/json",
    )
    assert response.status_code == 422, response.json
    assert message in response.json["error"]["fields"]["monthly_price"]
    assert _service(service.id).monthly_price == Decimal("799.00")


def test_a_change_with_nothing_to_change_is_refused(client, auth, make_service):
    service = make_service(next_billing_date=date(2026, 12, 1))
    auth.login("support")
    response = client.post(
        action_url(service.customer_id, "change"),
        json={"service_id": service.id, "reason": "x"},
    )
    assert response.status_code == 422
    assert response.json["error"]["message"] == "Nothing to change."


@pytest.mark.parametrize(
    "raw",
    ['{"service_id": 1,', "[1, 2]", '"text"', '{"service_id": NaN}', "service_id=1"],
)
def test_a_body_that_is_not_a_json_object_is_a_bad_request(client, auth, pending_service, raw):
    auth.login("support")
    response = client.post(
        action_url(pending_service.customer_id, "activate"),
        data=raw,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert response.json["error"]["fields"] == {}


def test_an_action_refused_half_way_leaves_nothing_behind(
    client, auth, make_service, billing_actor, monkeypatch
):
    service = make_service(billing_date=1, next_billing_date=date(2026, 11, 1))
    with clock.frozen_at(date(2026, 10, 25)):
        run_invoices(date(2026, 10, 25), actor=billing_actor)

    def refuse(*args, **kwargs):  # after the credit notes have been written
        raise Conflict("The customer's notification settings are being changed.")

    monkeypatch.setattr("app.lifecycle.queue_notification", refuse)
    with clock.frozen_at(date(2026, 11, 16)):
        auth.login("support")
        response = client.post(
            action_url(service.customer_id, "cancel"),
            json={"service_id": service.id, "reason": "Moving abroad"},
        )

    assert response.status_code == 409
    assert _count(CreditNote) == 0 and _count(ServiceActionLog) == 0
    assert _service(service.id).status == "active"
    assert check_books() == []


def test_unknown_api_paths_and_methods_answer_json(client, auth):
    auth.login("support")
    missing = client.get("/api/admin/nothing-here")
    wrong_method = client.get(action_url(1, "activate"))

    assert (missing.status_code, missing.json["error"]["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json["error"]["code"]) == (
        405,
        "method_not_allowed",
    )
    assert client.get("/no-such-page").mimetype == "text/html"


def test_an_oversized_body_is_refused_before_it_is_parsed(client, auth, pending_service):
    auth.login("support")
    response = client.post(
        action_url(pending_service.customer_id, "activate"),
        data='{"notes": "' + "x" * 1_000_001 + '"}',
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
