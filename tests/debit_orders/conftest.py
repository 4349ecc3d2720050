"""Fixtures for debit orders and Pay Now: customers with a service, an invoice and a
debit-order method (its mandate signed or not), and the NetCash sandbox helpers."""

from datetime import date
from decimal import Decimal

import pytest

from app import clock
from app.audit import Actor
from app.billing.calendar import Period, billing_date_after
from app.billing.invoicing import issue_period_invoice
from app.debit_orders import activate_mandate
from app.extensions import db
from app.models import CustomerInvoice, CustomerPaymentMethod
from app.payment_methods import add_debit_order
from tests.billing.conftest import billing_actor, make_service  # noqa: F401 (fixtures)

ACTOR = Actor.system("pytest")


@pytest.fixture
def debit_customer(make_customer, make_service):  # noqa: F811
    """Factory: (customer, service, method) — an active service billing on `billing_day`
    and a debit-order method for it, its mandate `active` (signed) or left pending."""

    def _make(
        *,
        billing_day: int = 1,
        price: str = "799.00",
        holiday_option: str = "next",
        mandate: str = "active",
        auto_pay: bool = True,
        account_number: str = "62812345678",
        **customer_fields,
    ):
        customer = make_customer(**customer_fields)
        billing = customer.billing
        billing.preferred_billing_date = billing_day
        db.session.commit()
        service = make_service(
            customer, billing_date=billing_day, monthly_price=price, next_billing_date=None
        )
        method = add_debit_order(
            customer,
            bank_name="FNB",
            account_number=account_number,
            account_type="current",
            holder_name=customer.full_name,
            debit_day=billing_day,
            holiday_option=holiday_option,
            auto_pay=auto_pay,
            actor=ACTOR,
            reason="test fixture",
        )
        db.session.commit()
        if mandate == "active":
            method = db.session.get(CustomerPaymentMethod, method.id)
            activate_mandate(method, actor=ACTOR, reason="test fixture: signed")
            db.session.commit()
        return customer, service, method

    return _make


@pytest.fixture
def invoice_due(billing_actor):  # noqa: F811
    """Factory: a numbered recurring invoice of the service for the period starting on
    `period_start`, issued `invoice_date` (due 7 days later)."""

    def _make(service, *, period_start: date, invoice_date: date) -> CustomerInvoice:
        with clock.frozen_at(invoice_date):
            invoice = issue_period_invoice(
                service,
                Period(period_start, billing_date_after(period_start, service.billing_date)),
                invoice_type="recurring",
                invoice_date=invoice_date,
                actor=billing_actor,
            )
            db.session.commit()
        return invoice

    return _make


def money(value: str) -> Decimal:
    return Decimal(value)
