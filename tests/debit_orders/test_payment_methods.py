"""Payment methods (DESIGN §5.6): encrypted details and masked names, the primary rules,
soft delete, and a debit-order method starting its mandate."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import clock
from app.billing.payment_data import decrypt_details
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import AuditLog, CustomerPaymentMethod
from app.payment_methods import (
    active_methods,
    add_card,
    add_debit_order,
    add_eft,
    deactivate_payment_method,
    set_primary,
)
from tests.debit_orders.conftest import ACTOR

TODAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(TODAY):
        yield


def _debit_order(customer, **fields):
    fields.setdefault("bank_name", "FNB")
    fields.setdefault("account_number", "6281 234 5678")
    fields.setdefault("account_type", "savings")
    fields.setdefault("holder_name", "T Nkosi")
    fields.setdefault("mandate_amount", Decimal("799.00"))
    method = add_debit_order(customer, actor=ACTOR, reason="Customer asked", **fields)
    db.session.commit()
    return method


def test_a_debit_order_keeps_bank_details_encrypted_and_shows_only_a_masked_name(make_customer):
    customer = make_customer()
    method = _debit_order(customer)

    assert method.display_name == "Debit Order - FNB ***5678"
    assert method.last_four == "5678"
    assert "62812345678" not in method.encrypted_details
    assert decrypt_details(method.encrypted_details) == {
        "account_number": "62812345678",
        "account_type": "savings",
        "bank_name": "FNB",
        "branch_code": "250655",  # FNB's universal branch code
        "holder_name": "T Nkosi",
    }
    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.entity_type == "customer_payment_methods")
    ).all()
    assert "add_payment_method" in {row.action for row in audit}
    assert all("62812345678" not in str(row.after) for row in audit)


def test_a_debit_order_starts_pending_signature_as_primary_with_auto_pay_on(make_customer):
    customer = make_customer()
    method = _debit_order(customer, debit_day=25, holiday_option="preceding")

    db.session.refresh(customer.billing)
    assert method.mandate_status == "pending_signature"
    assert method.mandate_url is None  # NetCash is off in this test: the hourly poll asks
    assert method.debit_day == 25
    assert method.holiday_option == "preceding"
    assert method.is_primary
    assert customer.billing.primary_payment_method_id == method.id
    assert customer.billing.auto_pay_enabled


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"account_number": "12ab"}, "account_number"),
        ({"bank_name": "Unknown Bank", "branch_code": ""}, "branch_code"),
        ({"account_type": "cheque"}, "account_type"),
        ({"holder_name": "  "}, "holder_name"),
        ({"debit_day": 15}, "debit_day"),
        ({"holiday_option": "sunday"}, "holiday_option"),
        ({"mandate_amount": Decimal("0.00")}, "mandate_amount"),
    ],
)
def test_bad_bank_details_are_refused_with_the_field_at_fault(make_customer, fields, field):
    customer = make_customer()
    with pytest.raises(InvalidInput) as refused:
        _debit_order(customer, **fields)
    assert refused.value.field == field


def test_a_debit_order_needs_a_mobile_number_for_the_mandate_sms(make_customer):
    customer = make_customer(phone=None)
    with pytest.raises(InvalidInput) as refused:
        _debit_order(customer)
    assert refused.value.field == "phone"


def test_a_card_is_kept_as_token_and_masked_number_never_the_full_number(make_customer):
    customer = make_customer()
    with pytest.raises(InvalidInput) as refused:
        add_card(
            customer,
            token="tok_1",
            masked_number="4111111111111111",
            expiry_month=12,
            expiry_year=2028,
            actor=ACTOR,
            reason="Customer asked",
        )
    assert refused.value.field == "masked_number"

    card = add_card(
        customer,
        token="tok_1",
        masked_number="411111******4242",
        expiry_month=12,
        expiry_year=28,
        actor=ACTOR,
        reason="Customer asked",
    )
    db.session.commit()
    assert card.display_name == "VISA Card ***4242"
    assert decrypt_details(card.encrypted_details)["token"] == "tok_1"
    assert card.is_primary  # the customer's first method


def test_an_expired_card_is_refused(make_customer):
    with pytest.raises(InvalidInput):
        add_card(
            make_customer(),
            token="tok_1",
            masked_number="************4242",
            expiry_month=10,
            expiry_year=2026,
            actor=ACTOR,
            reason="Customer asked",
        )


def test_setting_the_primary_moves_it_in_one_transaction(make_customer):
    customer = make_customer()
    eft = add_eft(customer, actor=ACTOR, reason="Customer asked")
    db.session.commit()
    debit = _debit_order(customer, make_primary=False)
    assert eft.is_primary and not debit.is_primary

    set_primary(debit, actor=ACTOR, reason="Customer prefers the debit order")
    db.session.commit()

    primaries = [m for m in active_methods(customer.id) if m.is_primary]
    assert primaries == [debit]
    db.session.refresh(customer.billing)
    assert customer.billing.primary_payment_method_id == debit.id
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.reason == "Customer prefers the debit order")
    ).all()
    assert sorted(actions) == ["set_primary", "unset_primary"]


def test_the_primary_cannot_be_removed_while_money_is_owed(make_customer, make_service):
    from app.billing.calendar import Period
    from app.billing.invoicing import issue_period_invoice

    customer = make_customer()
    service = make_service(customer, next_billing_date=None)
    issue_period_invoice(
        service,
        Period(date(2026, 12, 1), date(2027, 1, 1)),
        invoice_type="recurring",
        invoice_date=TODAY,
        actor=ACTOR,
    )
    eft = add_eft(customer, actor=ACTOR, reason="Customer asked")
    db.session.commit()

    with pytest.raises(Conflict):
        deactivate_payment_method(eft, actor=ACTOR, reason="Customer asked")
    db.session.rollback()
    assert db.session.get(CustomerPaymentMethod, eft.id).is_active


def test_removing_the_primary_hands_it_to_the_newest_other_method(make_customer):
    customer = make_customer()
    eft = add_eft(customer, actor=ACTOR, reason="Customer asked")
    card = add_card(
        customer,
        token="tok_9",
        masked_number="************4242",
        expiry_month=1,
        expiry_year=2030,
        actor=ACTOR,
        reason="Customer asked",
    )
    db.session.commit()
    assert eft.is_primary

    deactivate_payment_method(eft, actor=ACTOR, reason="Customer closed the account")
    db.session.commit()

    db.session.refresh(eft)
    assert not eft.is_active and eft.deactivated_at is not None and not eft.is_primary
    assert card.is_primary
    db.session.refresh(customer.billing)
    assert customer.billing.primary_payment_method_id == card.id
