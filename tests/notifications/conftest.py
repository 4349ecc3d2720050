"""Fixtures for notification tests: customers with a mobile number, outbox helpers, and
gateways whose delivery callbacks wait until a test asks for them."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Notification
from tests.billing.conftest import billing_actor, make_service  # noqa: F401


def outbox(*, template: str | None = None, channel: str | None = None) -> list[Notification]:
    """The notification rows, oldest first, as committed (fresh from the database)."""
    db.session.expire_all()
    query = select(Notification).order_by(Notification.id)
    if template:
        query = query.where(Notification.template == template)
    if channel:
        query = query.where(Notification.channel == channel)
    return list(db.session.scalars(query))


@pytest.fixture
def customer(make_customer):
    return make_customer(first_name="Thandi", phone="082 555 0101", email="thandi@example.co.za")


@pytest.fixture
def gateways(sandboxes):
    """The sandboxes, with the SMS delivery callbacks posted only by `deliver_pending()`."""
    sandboxes.clickatell.callback_delay = None
    sandboxes.bulksms.callback_delay = None
    return sandboxes
