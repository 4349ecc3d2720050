"""Payment details are encrypted at rest, shown masked, and survive key rotation."""

import pytest
from cryptography.fernet import Fernet

from app.billing.payment_data import (
    EFT_DISPLAY_NAME,
    card_display_name,
    debit_order_display_name,
    decrypt_details,
    encrypt_details,
    rotate_payment_data,
)
from app.extensions import db
from app.models import CustomerPaymentMethod

BANK = {"bank_name": "FNB", "account_number": "62812341234", "branch_code": "250655"}


def test_masked_names_show_only_the_last_four_digits():
    assert debit_order_display_name("FNB", "6281 2341 234") == "Debit Order - FNB ***1234"
    assert card_display_name("4242 4242 4242 4242") == "VISA Card ***4242"
    assert card_display_name("5555555555554444") == "Mastercard Card ***4444"
    assert EFT_DISPLAY_NAME == "EFT Payment"


def test_details_round_trip_and_the_token_hides_them(app):
    token = encrypt_details(BANK)
    assert "62812341234" not in token
    assert decrypt_details(token) == BANK


def test_card_security_code_is_never_stored(app):
    with pytest.raises(ValueError, match="never stored"):
        encrypt_details({"card_number": "4242424242424242", "CVV": "123"})


@pytest.fixture
def method(app, make_customer):
    """A debit-order method whose bank details are stored encrypted."""
    customer = make_customer()
    method = CustomerPaymentMethod(
        customer_id=customer.id,
        method_type="debit_order",
        display_name=debit_order_display_name("FNB", BANK["account_number"]),
        last_four="1234",
        encrypted_details=encrypt_details(BANK),
        is_primary=True,
    )
    db.session.add(method)
    db.session.commit()
    return method


def test_rotation_moves_tokens_to_the_newest_key_and_old_keys_can_go(app, method):
    old_key = app.config["PAYMENT_DATA_KEYS"]
    new_key = Fernet.generate_key().decode()
    app.config["PAYMENT_DATA_KEYS"] = f"{new_key},{old_key}"
    try:
        assert rotate_payment_data() == 1
        db.session.commit()
        app.config["PAYMENT_DATA_KEYS"] = new_key
        assert decrypt_details(method.encrypted_details) == BANK
        app.config["PAYMENT_DATA_KEYS"] = old_key
        with pytest.raises(RuntimeError, match="cannot be decrypted"):
            decrypt_details(method.encrypted_details)
    finally:
        app.config["PAYMENT_DATA_KEYS"] = old_key


def test_flask_keys_rotate_re_encrypts_and_refuses_when_a_key_is_missing(app, method):
    old_key = app.config["PAYMENT_DATA_KEYS"]
    new_key = Fernet.generate_key().decode()
    runner = app.test_cli_runner()
    try:
        app.config["PAYMENT_DATA_KEYS"] = f"{new_key},{old_key}"
        result = runner.invoke(args=["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 1 payment method(s)" in result.output
        db.session.expire_all()
        app.config["PAYMENT_DATA_KEYS"] = new_key
        assert (
            decrypt_details(db.session.get(CustomerPaymentMethod, method.id).encrypted_details)
            == BANK
        )
        # Without the key the details were written with, nothing is changed and it says so.
        app.config["PAYMENT_DATA_KEYS"] = Fernet.generate_key().decode()
        result = runner.invoke(args=["keys", "rotate"])
        assert result.exit_code == 1
        assert f"payment method {method.id}" in result.output
    finally:
        app.config["PAYMENT_DATA_KEYS"] = old_key
