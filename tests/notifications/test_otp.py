"""One-time codes (DESIGN §5.6): 6 digits by SMS, hashed at rest, 10 minutes, 3 attempts,
60 seconds between sends; the right code works once."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import OtpCode
from app.otp import issue_code, verify_code
from tests.notifications.conftest import outbox

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _issue(customer, at=START, purpose="payment_method") -> str:
    """Issue a code at `at` and return it, read from the queued SMS."""
    with clock.frozen_at(at):
        issue_code(customer, purpose)
        db.session.commit()
    sms = outbox(template="one_time_code")[-1]
    return re.search(r"code is (\d+)\.", sms.body).group(1)


def _verify(customer, code, at=START, purpose="payment_method"):
    with clock.frozen_at(at):
        try:
            return verify_code(customer, purpose, code)
        finally:
            db.session.rollback()  # as an edge does when the protected action is refused


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_code_is_six_digits_sent_by_sms_and_only_its_hash_is_stored(customer):
    code = _issue(customer)
    assert re.fullmatch(r"\d{6}", code)
    otp = db.session.scalars(select(OtpCode)).one()
    assert code not in otp.code_hash and otp.code_hash.startswith("hmac-sha256$")
    assert otp.expires_at == START + timedelta(minutes=10)
    assert otp.recipient == "+27825550101"
    (sms,) = outbox()
    assert sms.channel == "sms" and sms.context == {"minutes": "10"}
    assert "valid for 10 minutes" in sms.body


def test_the_right_code_works_once(customer):
    code = _issue(customer)
    with clock.frozen_at(START + timedelta(minutes=2)):
        assert verify_code(customer, "payment_method", code) is True
        db.session.commit()
    with pytest.raises(InvalidInput, match="already used"):
        _verify(customer, code, START + timedelta(minutes=3))


def test_a_code_whose_action_failed_can_be_used_again(customer):
    code = _issue(customer)
    assert _verify(customer, code) is True  # rolled back with the refused action
    assert _verify(customer, code) is True


def test_a_code_expires_after_ten_minutes(customer):
    code = _issue(customer)
    assert _verify(customer, code, START + timedelta(minutes=9, seconds=59)) is True
    with pytest.raises(InvalidInput, match="The code has expired; ask for a new code."):
        _verify(customer, code, START + timedelta(minutes=10))


def test_three_wrong_attempts_lock_the_code(customer):
    code = _issue(customer)
    messages = []
    for _ in range(3):
        with pytest.raises(InvalidInput) as wrong:
            _verify(customer, _wrong(code))
        messages.append(wrong.value.message)
    assert messages == [
        "Wrong code; 2 attempts left.",
        "Wrong code; 1 attempt left.",
        "Wrong code. That was the last attempt; ask for a new code.",
    ]
    # The attempts counted although each refused action was rolled back.
    assert db.session.scalars(select(OtpCode.attempts)).one() == 3
    with pytest.raises(InvalidInput, match="Too many wrong attempts"):
        _verify(customer, code)


def test_a_new_code_waits_sixty_seconds_and_replaces_the_old_one(customer):
    first = _issue(customer)
    with clock.frozen_at(START + timedelta(seconds=45)), pytest.raises(Conflict) as refused:
        issue_code(customer, "payment_method")
    assert refused.value.message == (
        "A code was sent less than a minute ago; you can ask for a new one in 15 s."
    )
    db.session.rollback()
    second = _issue(customer, START + timedelta(seconds=60))
    assert len(outbox(template="one_time_code")) == 2
    if first != second:
        with pytest.raises(InvalidInput, match="Wrong code"):
            _verify(customer, first, START + timedelta(seconds=61))
    assert _verify(customer, second, START + timedelta(seconds=61)) is True


def test_codes_of_other_purposes_do_not_count(customer):
    code = _issue(customer, purpose="payment_method")
    with pytest.raises(InvalidInput, match="No code was sent"):
        _verify(customer, code, purpose="profile")
    with pytest.raises(InvalidInput, match="Unknown one-time code purpose"):
        _verify(customer, code, purpose="everything")


def test_a_code_goes_even_when_the_customer_turned_sms_off(customer):
    customer.billing.sms_notifications_enabled = False
    db.session.commit()
    _issue(customer)
    assert [(row.channel, row.status) for row in outbox()] == [("sms", "queued")]


def test_a_code_needs_a_mobile_number(make_customer):
    customer = make_customer(phone=None)
    with pytest.raises(InvalidInput, match="no mobile number"):
        issue_code(customer, "payment_method")
    customer.phone = "011 555 1234"
    with pytest.raises(InvalidInput, match="not a mobile number"):
        issue_code(customer, "payment_method")


def test_the_code_is_masked_in_the_log_once_sent(gateways, customer):
    with clock.frozen_at(START):
        issue_code(customer, "payment_method")
        db.session.commit()
    (message,) = gateways.clickatell.messages
    code = re.search(r"code is (\d{6})\.", message["content"]).group(1)
    (sms,) = outbox()
    assert sms.status == "sent"
    assert code not in sms.body and "code is ******." in sms.body
