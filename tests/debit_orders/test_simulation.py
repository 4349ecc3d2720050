"""Simulated days with the NetCash sandbox: customers who pay by debit order and have a
mandate are collected by the debit-order run (not by hand), the sandbox returns some
collections, and the books still balance."""

from datetime import date

from sqlalchemy import select

from app import clock
from app.billing.ledger import check_books
from app.billing.simulation import paying_habit
from app.extensions import db
from app.models import DebitOrderItem, PaymentTransaction
from app.payment_methods import add_debit_order
from jobs.simulate import simulate_days
from tests.debit_orders.conftest import ACTOR

SEED = 11


def test_debit_order_customers_are_collected_by_the_run_with_some_returns(
    sandboxes, make_customer, make_service
):
    debit_customers = []
    with clock.frozen_at(date(2026, 11, 10)):
        for number in range(40):
            if len(debit_customers) == 4:
                break
            customer = make_customer(last_name=f"Sim{number}")
            if paying_habit(customer.id, SEED) != "debit_order":
                continue
            service = make_service(customer, billing_date=1, next_billing_date=date(2026, 12, 1))
            method = add_debit_order(
                customer,
                bank_name="Nedbank",
                account_number=f"10{number:08d}",
                account_type="current",
                holder_name=customer.full_name,
                debit_day=1,
                actor=ACTOR,
                reason="simulation test",
            )
            db.session.commit()
            sandboxes.netcash.sign_mandate(method.mandate_url)
            debit_customers.append((customer, service))
    assert len(debit_customers) == 4
    sandboxes.netcash.set_default_return_rate(0.35, seed=3)

    summary = simulate_days(date(2026, 11, 20), date(2026, 12, 8), seed=SEED)

    db.session.expire_all()
    ids = [customer.id for customer, _ in debit_customers]
    items = db.session.scalars(
        select(DebitOrderItem).where(DebitOrderItem.customer_id.in_(ids))
    ).all()
    by_status = {item.status for item in items}
    assert "confirmed" in by_status and "returned" in by_status
    by_hand = db.session.scalars(
        select(PaymentTransaction).where(
            PaymentTransaction.customer_id.in_(ids),
            PaymentTransaction.transaction_id.like("sim-%"),
        )
    ).all()
    assert by_hand == []
    assert not [f for f in summary.failures if "debit" in f or "statement" in f]
    assert check_books() == []
