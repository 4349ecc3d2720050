"""Portal accounts (issue 6, point 1): registration, login, logout, password reset,
24-hour sessions, rate-limited login; staff and customers are separate principals."""

import re
from datetime import timedelta

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import Customer, Notification
from tests.conftest import TEST_PASSWORD

NEW_PASSWORD = "a different long passphrase"


def register(client, customer, *, account_number=None, password=TEST_PASSWORD, confirm=None):
    return client.post(
        "/register",
        data={
            "email": customer.email,
            "account_number": account_number or customer.account_number,
            "password": password,
            "password_confirm": confirm or password,
        },
    )


def login(client, email, password=TEST_PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


def stored(customer) -> Customer:
    db.session.expire_all()
    return db.session.get(Customer, customer.id)


def test_registration_needs_the_email_and_account_number_of_one_customer(client, make_customer):
    customer = make_customer()
    other = make_customer()

    refused = register(client, customer, account_number=other.account_number)

    assert refused.status_code == 400
    assert "No customer has this e-mail address and account number" in refused.get_data(True)
    assert stored(customer).portal_password_hash is None

    accepted = register(client, customer, account_number=customer.account_number.lower())
    assert accepted.status_code == 302 and accepted.location.endswith("/login")
    assert stored(customer).portal_password_hash
    assert login(client, customer.email.upper()).status_code == 302


def test_registration_refuses_short_or_unconfirmed_passwords_and_a_second_registration(
    client, make_customer
):
    customer = make_customer()
    assert register(client, customer, password="short").status_code == 400
    mismatch = register(client, customer, confirm="another long passphrase")
    assert mismatch.status_code == 400 and "do not match" in mismatch.get_data(True)
    assert stored(customer).portal_password_hash is None

    assert register(client, customer).status_code == 302
    again = register(client, customer, password=NEW_PASSWORD)
    assert again.status_code == 400 and "already registered" in again.get_data(True)
    assert login(client, customer.email).status_code == 302  # the first password stands


def test_wrong_password_and_unregistered_customers_cannot_log_in(client, make_customer):
    registered = make_customer()
    register(client, registered)
    unregistered = make_customer()

    assert login(client, registered.email, "wrong password").status_code == 401
    assert login(client, unregistered.email, TEST_PASSWORD).status_code == 401
    assert client.get("/dashboard").status_code == 302


def test_anonymous_visitors_are_sent_to_login_and_come_back_after_it(client, portal_auth):
    customer = portal_auth.register()
    response = client.get("/dashboard")
    assert response.status_code == 302 and "/login?next=/dashboard" in response.location

    back = client.post(
        "/login?next=/dashboard", data={"email": customer.email, "password": TEST_PASSWORD}
    )
    assert back.status_code == 302 and back.location.endswith("/dashboard")
    offsite = client.post(
        "/login?next=//evil.example", data={"email": customer.email, "password": TEST_PASSWORD}
    )
    assert offsite.location.endswith("/dashboard")


def test_logged_in_customer_sees_their_account_and_logout_ends_the_session(client, portal_auth):
    customer = portal_auth.login()
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert customer.account_number in page.get_data(True)
    assert '<meta name="csrf-token"' in page.get_data(True)

    assert portal_auth.logout().status_code == 302
    assert client.get("/dashboard").status_code == 302


def test_failed_customer_logins_are_rate_limited(app, client, portal_auth):
    customer = portal_auth.register()
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])
    for _ in range(limit):
        assert login(client, customer.email, "wrong password").status_code == 401
    assert login(client, customer.email).status_code == 429


def test_a_customer_session_ends_24_hours_after_login(client, portal_auth):
    start = clock.now()
    with clock.frozen_at(start):
        portal_auth.login()
    with clock.frozen_at(start + timedelta(hours=23, minutes=59)):
        assert client.get("/dashboard").status_code == 200
    with clock.frozen_at(start + timedelta(hours=24, minutes=1)):
        assert client.get("/dashboard").status_code == 302


def test_staff_and_customers_are_separate_principals(client, auth, portal_auth):
    auth.login("admin")
    refused = client.get("/dashboard")
    assert refused.status_code == 403
    api = client.get("/api/dashboard/summary")
    assert api.status_code in (403, 404)  # 404 only while the route is not yet there

    auth.logout()
    portal_auth.login()
    assert client.get("/admin/customers/").status_code in (302, 403)


def reset_link(customer) -> str:
    message = db.session.scalars(
        select(Notification).where(
            Notification.customer_id == customer.id, Notification.template == "password_reset"
        )
    ).one()
    assert message.channel == "email"
    assert "reset_url" not in (message.context or {})  # the link lives in the body only
    return re.search(r"https?://\S+/reset-password/(\S+)", message.body).group(1)


def test_password_reset_by_emailed_link_works_once_and_ends_older_sessions(
    app, client, portal_auth
):
    customer = portal_auth.login()
    assert client.get("/dashboard").status_code == 200
    other_device = app.test_client()
    other_device.post("/login", data={"email": customer.email, "password": TEST_PASSWORD})

    answer = client.post("/forgot-password", data={"email": customer.email})
    assert answer.status_code == 302
    token = reset_link(customer)

    page = other_device.get(f"/reset-password/{token}")
    assert page.status_code == 200
    changed = other_device.post(
        f"/reset-password/{token}",
        data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert changed.status_code == 302

    assert client.get("/dashboard").status_code == 302  # the old session has ended
    assert login(client, customer.email, TEST_PASSWORD).status_code == 401
    assert login(client, customer.email, NEW_PASSWORD).status_code == 302
    assert other_device.get(f"/reset-password/{token}").status_code == 400  # used


def test_password_reset_links_expire_after_an_hour_and_unknown_addresses_get_nothing(
    client, portal_auth
):
    customer = portal_auth.register()
    start = clock.now()
    with clock.frozen_at(start):
        client.post("/forgot-password", data={"email": customer.email})
        unknown = client.post("/forgot-password", data={"email": "nobody@example.co.za"})
    assert unknown.status_code == 302  # the same answer: no hint whether it is known
    assert db.session.scalars(select(Notification)).all()[0].customer_id == customer.id
    assert len(db.session.scalars(select(Notification)).all()) == 1
    token = reset_link(customer)
    with clock.frozen_at(start + timedelta(minutes=61)):
        assert client.get(f"/reset-password/{token}").status_code == 400
