"""Admin billing over JSON: a customer's billing view and "generate invoices now".

The tests named `test_seed_3_4_*` are the operator's group 3.4 "Admin billing"
(reference/seed-spec-digest.md §6.2), adapted to DESIGN §5.3–5.5.
"""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import clock
from app.billing.invoicing import run_invoices
from app.billing.ledger import check_books
from app.billing.payments import record_payment
from app.extensions import db
from app.lifecycle import activate_service, cancel_service, suspend_service
from app.models import AuditLog, CustomerBilling, CustomerInvoice, InvoiceNumberCounter, LedgerEntry
from tests.api.conftest import GENERATE_URL, billing_url

RUN_DATE = date(2026, 11, 25)


def _invoice_count() -> int:
    return db.session.scalar(select(func.count()).select_from(CustomerInvoice))


# --- Customer billing view --------------------------------------------------------------------


@pytest.fixture
def account_with_history(make_customer, make_service, billing_actor):
    """Two months of Fibre billed in advance, a payment of R1 000, and an LTE service
    activated on 10 Nov and cancelled on 12 Nov (final credit note)."""
    customer = make_customer(first_name="Lerato", last_name="Dlamini")
    fibre = make_service(
        customer,
        billing_date=1,
        next_billing_date=date(2026, 10, 1),
        activation_date=date(2026, 9, 1),
    )
    lte = make_service(
        customer,
        service_type="lte",
        package_name="LTE 60GB",
        monthly_price="349.00",
        billing_date=25,
        status="pending",
        next_billing_date=None,
        activation_date=None,
    )
    with clock.frozen_at(date(2026, 9, 24)):
        run_invoices(date(2026, 9, 24), actor=billing_actor)  # October
    with clock.frozen_at(date(2026, 10, 5)):
        record_payment(
            customer=customer,
            amount=Decimal("1000.00"),
            method="eft",
            idempotency_key="eft-2026-10-05-lerato",
            actor=billing_actor,
            reason="Bank statement",
        )
        db.session.commit()
    with clock.frozen_at(date(2026, 10, 25)):
        run_invoices(date(2026, 10, 25), actor=billing_actor)  # November, R201 credit applied
    with clock.frozen_at(date(2026, 11, 10)):
        activate_service(lte, actor=billing_actor, reason="SIM delivered")
        db.session.commit()
    with clock.frozen_at(date(2026, 11, 12)):
        cancel_service(lte, actor=billing_actor, reason="No signal at home")
        db.session.commit()
    return customer, fibre, lte


def test_seed_3_4_customer_billing_view_aggregation(client, auth, account_with_history):
    customer, fibre, lte = account_with_history
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("viewer")
        response = client.get(billing_url(customer.id))

    assert response.status_code == 200, response.json
    body = response.json
    assert body["customer"]["account_number"] == customer.account_number
    assert body["customer"]["name"] == "Lerato Dlamini"
    assert body["as_of"] == "2026-11-15"
    # 799 + 799 + 168.87 invoiced − 1 000 paid − 146.35 credited
    assert body["billing"]["account_balance"] == "620.52"
    assert body["billing"]["balance_label"] == "Amount due R620.52"
    assert body["billing"]["monthly_recurring"] == "799.00"
    assert body["totals"] == {
        "invoiced": "1766.87",
        "paid": "1000.00",
        "credited": "146.35",
        "adjusted": "0.00",
        "outstanding": "620.52",
        "open_invoice_count": 2,
        "overdue": "598.00",
        "overdue_invoice_count": 1,
    }
    november, lte_invoice = body["open_invoices"]
    assert (november["period_label"], november["amount_due"]) == ("1 Nov – 30 Nov 2026", "598.00")
    assert (november["overdue"], november["days_past_due"]) == (True, 14)
    assert (lte_invoice["amount_due"], lte_invoice["overdue"]) == ("22.52", False)
    (payment,) = body["recent_payments"]
    assert (payment["amount"], payment["method"], payment["status"]) == (
        "1000.00",
        "eft",
        "completed",
    )
    services = {service["id"]: service for service in body["services"]}
    assert services[fibre.id]["next_billing_date"] == "2026-12-01"
    assert services[fibre.id]["current_period"]["label"] == "1 Nov – 30 Nov 2026"
    assert (services[lte.id]["status"], services[lte.id]["next_billing_date"]) == (
        "cancelled",
        None,
    )


def test_billing_view_numbers_match_the_ledger(client, auth, account_with_history):
    customer, _, _ = account_with_history
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("finance")
        body = client.get(billing_url(customer.id)).json

    ledger_sum = db.session.scalar(
        select(func.sum(LedgerEntry.amount)).where(LedgerEntry.customer_id == customer.id)
    )
    cached = db.session.scalar(
        select(CustomerBilling.account_balance).where(CustomerBilling.customer_id == customer.id)
    )
    totals = {key: Decimal(value) for key, value in body["totals"].items() if "count" not in key}
    balance = Decimal(body["billing"]["account_balance"])
    assert balance == ledger_sum == cached
    assert totals["invoiced"] - totals["paid"] - totals["credited"] + totals["adjusted"] == balance
    open_due = sum(Decimal(invoice["amount_due"]) for invoice in body["open_invoices"])
    assert open_due == totals["outstanding"]
    assert check_books() == []


def test_a_customer_in_credit_sees_credit_not_a_negative_number(
    client, auth, make_customer, billing_actor
):
    customer = make_customer()
    record_payment(
        customer=customer,
        amount=Decimal("150.00"),
        method="cash",
        idempotency_key="cash-001",
        actor=billing_actor,
        reason="Paid at the branch",
    )
    db.session.commit()
    auth.login("support")
    body = client.get(billing_url(customer.id)).json
    assert body["billing"]["account_balance"] == "-150.00"
    assert body["billing"]["balance_label"] == "Credit R150.00"
    assert body["open_invoices"] == [] and body["totals"]["outstanding"] == "0.00"


def test_the_billing_view_of_an_unknown_customer_is_not_found(client, auth):
    auth.login("viewer")
    response = client.get(billing_url(424242))
    assert (response.status_code, response.json["error"]["code"]) == (404, "not_found")


# --- Generate invoices now --------------------------------------------------------------------


@pytest.fixture
def due_services(make_customer, make_service, billing_actor):
    """On 25 Nov: two services due within the 7-day horizon, one not yet due, one suspended
    with billing skipped."""
    fibre = make_service(billing_date=1, next_billing_date=date(2026, 12, 1))
    lte = make_service(
        package_name="LTE 60GB", monthly_price="349.00", billing_date=25, next_billing_date=RUN_DATE
    )
    later = make_service(next_billing_date=date(2027, 1, 1))
    paused = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 20)):
        suspend_service(
            paused, actor=billing_actor, reason="Travel", suspension_type="customer_request"
        )
        db.session.commit()
    return fibre, lte, later, paused


def test_seed_3_4_manual_generation_for_all_due_services(client, auth, due_services):
    fibre, lte, later, paused = due_services
    with clock.frozen_at(RUN_DATE):
        auth.login("finance")
        response = client.post(GENERATE_URL, json={"reason": "Run missed by the scheduler"})

    assert response.status_code == 200, response.json
    body = response.json
    assert (body["scope"], body["run_date"], body["dry_run"]) == ("all_due", "2026-11-25", False)
    assert (body["generated"], body["skipped"], body["failed"]) == (2, 1, 0)
    assert body["total_amount"] == "1148.00"
    by_service = {entry["service_id"]: entry["invoices"] for entry in body["services"]}
    assert set(by_service) == {fibre.id, lte.id}
    (fibre_invoice,) = by_service[fibre.id]
    assert (fibre_invoice["period_start"], fibre_invoice["total_amount"]) == (
        "2026-12-01",
        "799.00",
    )
    numbers = sorted(invoices[0]["invoice_number"] for invoices in by_service.values())
    assert numbers == ["INV-2026-00001", "INV-2026-00002"]
    audits = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "generate_invoices")
    ).all()
    assert {(a.entity_id, a.reason) for a in audits} == {
        (str(fibre.id), "Run missed by the scheduler"),
        (str(lte.id), "Run missed by the scheduler"),
    }
    assert check_books() == []


def test_seed_3_4_selective_generation_by_service_ids(client, auth, due_services):
    fibre, lte, later, _ = due_services
    with clock.frozen_at(RUN_DATE):
        auth.login("finance")
        response = client.post(
            GENERATE_URL,
            json={
                "service_ids": [lte.id, later.id],
                "reason": "Customer asked",
                "date": "2026-11-25",
            },
        )

    assert response.status_code == 200, response.json
    body = response.json
    assert (body["scope"], body["generated"]) == ("selected", 1)
    (entry,) = body["services"]
    assert entry["service_id"] == lte.id
    assert entry["invoices"][0]["invoice_number"] == "INV-2026-00001"
    assert entry["invoices"][0]["total_amount"] == "349.00"
    assert _invoice_count() == 1  # the Fibre service was due too, but not asked for


def test_generating_twice_invoices_nothing_twice(client, auth, due_services):
    fibre, *_ = due_services
    request = {"service_ids": [fibre.id], "reason": "Customer asked"}
    with clock.frozen_at(RUN_DATE):
        auth.login("admin")
        first = client.post(GENERATE_URL, json=request)
        second = client.post(GENERATE_URL, json=request)
    assert (first.json["generated"], second.json["generated"]) == (1, 0)
    assert _invoice_count() == 1


def test_a_preview_issues_nothing_and_takes_no_number(client, auth, due_services):
    with clock.frozen_at(RUN_DATE):
        auth.login("finance")
        everything = client.post(GENERATE_URL, json={"reason": "Preview", "dry_run": True})
        fibre, *_ = due_services
        selected = client.post(
            GENERATE_URL, json={"service_ids": [fibre.id], "reason": "Preview", "dry_run": True}
        )

    assert everything.json["generated"] == 2 and selected.json["generated"] == 1
    for response in (everything, selected):
        assert response.json["dry_run"] is True
        for entry in response.json["services"]:
            assert entry["invoices"][0]["invoice_number"] is None
    assert _invoice_count() == 0
    assert db.session.get(InvoiceNumberCounter, 1).last_number == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "reason"),
        ({"reason": "  "}, "reason"),
        ({"reason": "x", "date": "2026-11-26"}, "date"),
        ({"reason": "x", "date": "25 Nov"}, "date"),
        ({"reason": "x", "service_ids": []}, "service_ids"),
        ({"reason": "x", "service_ids": "1,2"}, "service_ids"),
        ({"reason": "x", "service_ids": [999_999]}, "service_ids"),
        ({"reason": "x", "dry_run": "yes"}, "dry_run"),
        ({"reason": "x", "serviceIds": [1]}, "serviceIds"),
    ],
)
def test_bad_generate_requests_are_refused_naming_the_field(
    client, auth, due_services, body, field
):
    with clock.frozen_at(RUN_DATE):
        auth.login("finance")
        response = client.post(GENERATE_URL, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert _invoice_count() == 0


def test_generated_invoices_are_issued_by_the_staff_user(client, auth, due_services):
    fibre, *_ = due_services
    with clock.frozen_at(RUN_DATE):
        user = auth.login("finance")
        client.post(GENERATE_URL, json={"service_ids": [fibre.id], "reason": "Early invoice"})
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.entry_type == "invoice")).one()
    assert entry.actor == user.email
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "generate_invoices")).one()
    assert (audit.staff_user_id, audit.reason) == (user.id, "Early invoice")
