"""GET /api/admin/customers/<id>/services/<sid>/audit: the service's action log.

The tests named `test_seed_3_5_*` are the operator's group 3.5 "Audit API"
(reference/seed-spec-digest.md §6.2), adapted.
"""

from datetime import date

import pytest

from app import clock
from app.audit import Actor
from app.extensions import db
from app.lifecycle import suspend_service
from tests.api.conftest import action_url, audit_url
from tests.conftest import TEST_PASSWORD


@pytest.fixture
def service_with_history(client, make_staff, pending_service):
    """Activated on 13 Nov, suspended on the 14th and reactivated on the 15th, over the API
    by one support user (who logs in each morning: staff sessions last 8 hours)."""
    staff = make_staff("support", email="nomsa.support@isp-console.co.za", name="Nomsa Dube")
    steps = [
        (date(2026, 11, 13), "activate", {"reason": "Installed", "notes": "Router on the wall"}),
        (date(2026, 11, 14), "suspend", {"reason": "Line fault", "suspension_type": "technical"}),
        (date(2026, 11, 15), "reactivate", {"reason": "Fault fixed"}),
    ]
    for day, action, body in steps:
        with clock.frozen_at(day):
            client.post("/admin/login", data={"email": staff.email, "password": TEST_PASSWORD})
            response = client.post(
                action_url(pending_service.customer_id, action),
                json={"service_id": pending_service.id, **body},
            )
            assert response.status_code == 200, response.json
    return pending_service, staff


def test_seed_3_5_retrieval_per_service_newest_first(client, service_with_history, make_service):
    service, _ = service_with_history
    other = make_service(service.customer)  # its log is not this service's
    with clock.frozen_at(date(2026, 11, 15)):
        client.post(
            action_url(service.customer_id, "cancel"),
            json={"service_id": other.id, "reason": "Duplicate order"},
        )
        response = client.get(audit_url(service.customer_id, service.id))

    assert response.status_code == 200, response.json
    entries = response.json["entries"]
    assert [e["action"] for e in entries] == ["reactivate", "suspend", "activate"]
    assert [(e["previous_status"], e["new_status"]) for e in entries] == [
        ("suspended", "active"),
        ("active", "suspended"),
        ("pending", "active"),
    ]
    activation = entries[-1]
    assert (activation["reason"], activation["notes"]) == ("Installed", "Router on the wall")
    assert activation["at"] == "2026-11-13T07:00:00Z"  # 09:00 SAST
    assert entries[0]["at"] == "2026-11-15T07:00:00Z"
    changes = {change["field"]: (change["old"], change["new"]) for change in activation["changes"]}
    assert changes["status"] == ("pending", "active")
    assert changes["activation_date"] == (None, "2026-11-13")
    assert changes["next_billing_date"] == (None, "2026-12-01")
    assert "updated_at" not in changes
    assert response.json["service"] == {"id": service.id, "status": "active"}
    assert response.json["pagination"] == {"total": 3, "limit": 20, "offset": 0, "has_more": False}


def test_seed_3_5_admin_user_details_are_included(client, service_with_history):
    service, staff = service_with_history
    with clock.frozen_at(date(2026, 11, 15)):
        response = client.get(audit_url(service.customer_id, service.id))
    for entry in response.json["entries"]:
        assert entry["actor"] == {
            "type": "staff",
            "label": "nomsa.support@isp-console.co.za",
            "staff_user": {
                "id": staff.id,
                "name": "Nomsa Dube",
                "email": "nomsa.support@isp-console.co.za",
            },
        }


def test_automatic_actions_show_the_system_as_actor(client, auth, make_service):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 20)):
        suspend_service(
            service,
            actor=Actor.system("dunning"),
            reason="Invoice INV-2026-00001 14 days overdue",
            suspension_type="non_payment",
        )
        db.session.commit()
        auth.login("viewer")
        response = client.get(audit_url(service.customer_id, service.id))
    (entry,) = response.json["entries"]
    assert entry["actor"] == {"type": "system", "label": "dunning", "staff_user": None}
    assert entry["reason"] == "Invoice INV-2026-00001 14 days overdue"


def test_the_log_is_paginated(client, service_with_history):
    service, _ = service_with_history
    with clock.frozen_at(date(2026, 11, 15)):
        first = client.get(audit_url(service.customer_id, service.id, "?limit=2"))
        rest = client.get(audit_url(service.customer_id, service.id, "?limit=2&offset=2"))
        beyond = client.get(audit_url(service.customer_id, service.id, "?offset=10"))

    assert [e["action"] for e in first.json["entries"]] == ["reactivate", "suspend"]
    assert first.json["pagination"] == {"total": 3, "limit": 2, "offset": 0, "has_more": True}
    assert [e["action"] for e in rest.json["entries"]] == ["activate"]
    assert rest.json["pagination"]["has_more"] is False
    assert beyond.json["entries"] == [] and beyond.json["pagination"]["total"] == 3


@pytest.mark.parametrize(
    "query, field",
    [
        ("?limit=101", "limit"),
        ("?limit=0", "limit"),
        ("?limit=ten", "limit"),
        ("?offset=-1", "offset"),
    ],
)
def test_paging_parameters_out_of_range_are_refused(client, auth, make_service, query, field):
    service = make_service()
    auth.login("viewer")
    response = client.get(audit_url(service.customer_id, service.id, query))
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {field}


def test_the_log_of_another_customers_service_is_not_found(
    client, auth, make_customer, make_service
):
    service = make_service()
    stranger = make_customer()
    auth.login("admin")
    assert client.get(audit_url(stranger.id, service.id)).status_code == 404
    assert client.get(audit_url(service.customer_id, 999_999)).status_code == 404
    assert client.get(audit_url(999_999, service.id)).status_code == 404
