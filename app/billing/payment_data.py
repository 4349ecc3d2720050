"""Bank and card details: Fernet encryption with key rotation, and masked display names.

Keys come from `PAYMENT_DATA_KEYS` (comma-separated, newest first): new tokens use the
first key, any listed key decrypts, and `rotate_payment_data` re-encrypts every stored
token under the newest key so old keys can then be dropped (DESIGN §5.6, §8).
"""

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import CustomerPaymentMethod

CARD_BRANDS = {"4": "VISA", "5": "Mastercard", "2": "Mastercard", "3": "American Express"}


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in current_app.config["PAYMENT_DATA_KEYS"].split(",") if k.strip()]
    if not keys:
        raise RuntimeError("PAYMENT_DATA_KEYS is empty: payment details cannot be encrypted")
    return MultiFernet([Fernet(key) for key in keys])


def encrypt_details(details: dict) -> str:
    """A Fernet token for the details (the CVV must never be among them)."""
    if "cvv" in {key.lower() for key in details}:
        raise ValueError("the card security code is never stored")
    return _fernet().encrypt(json.dumps(details, sort_keys=True).encode()).decode()


def decrypt_details(token: str) -> dict:
    """The details behind a token; fails loudly if no configured key fits."""
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise RuntimeError("payment details cannot be decrypted with the configured keys") from None


def last_four(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return digits[-4:]


def debit_order_display_name(bank_name: str, account_number: str) -> str:
    """ "Debit Order - FNB ***1234"."""
    return f"Debit Order - {bank_name} ***{last_four(account_number)}"


def card_display_name(card_number: str) -> str:
    """ "VISA Card ***4242"."""
    digits = "".join(ch for ch in card_number if ch.isdigit())
    brand = CARD_BRANDS.get(digits[:1], "Card")
    return f"{brand} Card ***{digits[-4:]}"


EFT_DISPLAY_NAME = "EFT Payment"


def rotate_payment_data(batch_size: int = 500) -> int:
    """Re-encrypt every stored token under the newest key; returns how many rows changed."""
    fernet = _fernet()
    rotated = 0
    last_id = 0
    while True:
        methods = db.session.scalars(
            select(CustomerPaymentMethod)
            .where(
                CustomerPaymentMethod.id > last_id,
                CustomerPaymentMethod.encrypted_details.is_not(None),
            )
            .order_by(CustomerPaymentMethod.id)
            .limit(batch_size)
        ).all()
        if not methods:
            return rotated
        for method in methods:
            try:
                token = fernet.rotate(method.encrypted_details.encode())
            except InvalidToken:
                raise RuntimeError(
                    f"the details of payment method {method.id} fit none of the configured keys"
                ) from None
            method.encrypted_details = token.decode()
            rotated += 1
        last_id = methods[-1].id
        db.session.flush()
