"""Who may call the admin API (DESIGN §4 roles, §8): the access-control matrix.

The permission is checked before the customer is looked up, so a role that may act gets
404 for an unknown customer, and a role that may not gets 403 without learning whether
the customer exists.
"""

from datetime import date

import pytest

from app import clock
from tests.api.conftest import GENERATE_URL, action_url, audit_url, billing_url

UNKNOWN = 999_999
POSTS = {
    "activate": action_url(UNKNOWN, "activate"),
    "suspend": action_url(UNKNOWN, "suspend"),
    "reactivate": action_url(UNKNOWN, "reactivate"),
    "cancel": action_url(UNKNOWN, "cancel"),
    "change": action_url(UNKNOWN, "change"),
    "generate-invoices-now": GENERATE_URL,
}
GETS = {"audit": audit_url(UNKNOWN, 1), "billing": billing_url(UNKNOWN)}
ALLOWED_POSTS = {
    "admin": set(POSTS),
    "support": {"activate", "suspend", "reactivate", "cancel", "change"},
    "finance": {"generate-invoices-now"},
    "viewer": set(),
}


@pytest.mark.parametrize("role", sorted(ALLOWED_POSTS))
def test_each_role_may_post_exactly_what_its_permissions_allow(client, auth, role):
    auth.login(role)
    for name, url in POSTS.items():
        response = client.post(url, json={})
        if name in ALLOWED_POSTS[role]:
            # Through the permission check: then the unknown customer or the empty body.
            assert response.status_code in (404, 422), (role, name, response.json)
        else:
            assert response.status_code == 403, (role, name)
            assert response.json["error"]["code"] == "forbidden"


@pytest.mark.parametrize("role", sorted(ALLOWED_POSTS))
def test_every_role_may_read_billing_and_audit(client, auth, role):
    auth.login(role)
    for url in GETS.values():
        assert client.get(url).status_code == 404


def test_anonymous_requests_are_unauthorised_not_redirected(client):
    for url in POSTS.values():
        response = client.post(url, json={"reason": "x"})
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
    for url in GETS.values():
        response = client.get(url)
        assert response.status_code == 401
        assert "Location" not in response.headers


def test_a_logged_out_staff_user_is_unauthorised(client, auth):
    auth.login("admin")
    auth.logout()
    assert client.get(billing_url(UNKNOWN)).status_code == 401


def test_a_deactivated_staff_users_session_no_longer_works(client, auth):
    from app.extensions import db

    user = auth.login("support")
    user.is_active = False
    db.session.commit()
    assert client.get(billing_url(UNKNOWN)).status_code == 401


def test_an_expired_staff_session_is_unauthorised(client, auth):
    with clock.frozen_at(date(2026, 11, 15)):
        auth.login("admin")
    with clock.frozen_at(date(2026, 11, 16)):  # more than 8 hours later
        assert client.get(billing_url(UNKNOWN)).status_code == 401


def test_a_logged_in_customer_is_forbidden_everywhere(client, portal_auth):
    portal_auth.login()
    for url in POSTS.values():
        assert client.post(url, json={}).status_code == 403
    for url in GETS.values():
        assert client.get(url).status_code == 403
