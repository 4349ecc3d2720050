"""The outbox sender and one-time codes on SQLite too (the zero-set-up `make run`)."""

import re

import pytest
from sqlalchemy import select

from app.accounts import create_customer
from app.errors import InvalidInput
from app.extensions import db
from app.models import Notification, OtpCode
from app.otp import issue_code, verify_code


@pytest.mark.sqlite
def test_codes_and_messages_work_on_sqlite(sqlite_app, running_sandboxes, system_actor):
    running_sandboxes.reset()
    running_sandboxes.clickatell.callback_delay = None
    saved = {key: sqlite_app.config.get(key) for key in running_sandboxes.config}
    sqlite_app.config.update(running_sandboxes.config)
    try:
        customer = create_customer(
            actor=system_actor,
            reason="test",
            first_name="Lindiwe",
            last_name="Zulu",
            email="lindiwe@example.co.za",
            phone="082 555 0404",
        )
        db.session.commit()
        issue_code(customer, "payment_method")
        db.session.commit()  # sent through the gateway sandbox right after the commit

        (message,) = running_sandboxes.clickatell.messages
        code = re.search(r"code is (\d{6})\.", message["content"]).group(1)
        sms = db.session.scalars(select(Notification)).one()
        assert (sms.status, sms.recipient) == ("sent", "+27825550404")

        wrong = f"{(int(code) + 1) % 10**6:06d}"
        with pytest.raises(InvalidInput, match="2 attempts left"):
            verify_code(customer, "payment_method", wrong)
        db.session.rollback()  # the attempt was counted in its own transaction
        assert db.session.scalars(select(OtpCode.attempts)).one() == 1
        assert verify_code(customer, "payment_method", code) is True
        db.session.commit()
    finally:
        sqlite_app.config.update(saved)
        running_sandboxes.reset()
