"""Staff authentication: hashed passwords, roles, rate limits, session rules, CLI."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import clock, create_app
from app.auth import ROLE_PERMISSIONS, has_permission
from app.extensions import db
from app.models import AuditLog, StaffUser
from config import DEV_PAYMENT_DATA_KEY, DEV_SECRET_KEY, ProductionConfig
from tests.conftest import TEST_PASSWORD


def test_passwords_are_stored_hashed_with_scrypt(make_staff):
    user = make_staff("support")
    assert TEST_PASSWORD not in user.password_hash
    assert user.password_hash.startswith("scrypt:")


def test_role_permissions_follow_the_design_table():
    assert ROLE_PERMISSIONS["viewer"] == {"customers:view", "audit:view"}
    assert "billing:manage" in ROLE_PERMISSIONS["finance"]
    assert "customers:edit" not in ROLE_PERMISSIONS["finance"]
    assert "services:suspend" in ROLE_PERMISSIONS["support"]
    assert "billing:manage" not in ROLE_PERMISSIONS["support"]
    assert {"payment_methods:view_full", "settings:edit", "staff:manage"} <= ROLE_PERMISSIONS[
        "admin"
    ]
    for role in ("support", "finance", "viewer"):
        assert "staff:manage" not in ROLE_PERMISSIONS[role]


def test_inactive_staff_have_no_permissions(make_staff):
    user = make_staff("admin")
    user.is_active = False

    class Principal:
        is_staff = True
        is_active = False
        role = user.role

    assert not has_permission(Principal(), "customers:view")


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client, make_staff):
    user = make_staff("admin")
    response = client.post("/admin/login", data={"email": user.email, "password": "nope"})
    assert response.status_code == 401
    assert b"Wrong e-mail or password" in response.data
    unknown = client.post("/admin/login", data={"email": "ghost@x.co.za", "password": "nope"})
    assert unknown.status_code == 401
    assert client.get("/admin/").status_code == 302


def test_login_email_is_case_insensitive_and_records_last_login(client, make_staff):
    user = make_staff("viewer", email="Mixed.Case@isp-console.co.za")
    response = client.post(
        "/admin/login", data={"email": "mixed.case@ISP-console.co.za", "password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.last_login_at is not None


def test_login_follows_only_same_site_next_urls(client, make_staff):
    user = make_staff("admin")
    data = {"email": user.email, "password": TEST_PASSWORD}
    response = client.post("/admin/login?next=https://evil.example/steal", data=data)
    assert response.headers["Location"].endswith("/admin/")
    client.post("/admin/logout")
    response = client.post("/admin/login?next=/admin/?tab=1", data=data)
    assert response.headers["Location"] == "/admin/?tab=1"


def test_repeated_failed_logins_are_rate_limited(app, client, make_staff):
    user = make_staff("admin")
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])
    for _ in range(limit):
        response = client.post("/admin/login", data={"email": user.email, "password": "bad"})
        assert response.status_code == 401
    blocked = client.post("/admin/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert blocked.status_code == 429


def test_successful_logins_do_not_count_against_the_limit(app, client, make_staff):
    user = make_staff("admin")
    limit = int(app.config["LOGIN_RATE_LIMIT"].split()[0])
    for _ in range(limit + 2):
        response = client.post(
            "/admin/login", data={"email": user.email, "password": TEST_PASSWORD}
        )
        assert response.status_code == 302
        client.post("/admin/logout")


def test_logout_ends_the_session(client, auth):
    auth.login("admin")
    assert client.get("/admin/").status_code == 200
    assert auth.logout().status_code == 302
    assert client.get("/admin/").status_code == 302


def test_staff_session_ends_after_eight_hours(client, auth):
    login_time = clock.now()
    with clock.frozen_at(login_time):
        auth.login("support")
    with clock.frozen_at(login_time + timedelta(hours=7, minutes=59)):
        assert client.get("/admin/").status_code == 200
    with clock.frozen_at(login_time + timedelta(hours=8, minutes=1)):
        response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]


def test_deactivating_a_staff_user_ends_their_session(client, auth):
    user = auth.login("support")
    user.is_active = False
    db.session.commit()
    assert client.get("/admin/").status_code == 302


def test_password_change_ends_existing_sessions(client, auth, system_actor):
    from app.auth import set_staff_password

    user = auth.login("admin")
    set_staff_password(user, "a brand new password", actor=system_actor, reason="rotation")
    db.session.commit()
    assert client.get("/admin/").status_code == 302


def test_session_cookie_is_http_only_and_same_site(client, make_staff):
    user = make_staff("admin")
    response = client.post("/admin/login", data={"email": user.email, "password": TEST_PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_responses_carry_security_headers(client):
    response = client.get("/admin/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_login_needs_csrf_token_when_csrf_is_on(app, make_staff):
    from tests.conftest import PG_DATABASE_URL, make_test_config

    email = make_staff("admin").email  # read here, not through the other app's engine
    csrf_app = create_app(make_test_config(PG_DATABASE_URL, WTF_CSRF_ENABLED=True))
    with csrf_app.app_context():
        csrf_client = csrf_app.test_client()
        data = {"email": email, "password": TEST_PASSWORD}
        assert csrf_client.post("/admin/login", data=data).status_code == 400
        page = csrf_client.get("/admin/login").get_data(as_text=True)
        token = page.split('name="csrf-token" content="')[1].split('"')[0]
        response = csrf_client.post("/admin/login", data={**data, "csrf_token": token})
        assert response.status_code == 302
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize(
    "overrides, missing",
    [
        ({"SECRET_KEY": DEV_SECRET_KEY}, "SECRET_KEY"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"PAYMENT_DATA_KEYS": DEV_PAYMENT_DATA_KEY}, "PAYMENT_DATA_KEYS"),
        ({"PAYMENT_DATA_KEYS": ""}, "PAYMENT_DATA_KEYS"),
        ({"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db"}, "DATABASE_URL"),
    ],
)
def test_production_refuses_default_or_missing_secrets(overrides, missing):
    settings = {
        "SECRET_KEY": "a-real-secret-from-the-vault",
        "PAYMENT_DATA_KEYS": "bm90LWEtZGV2LWtleS1idXQtYS1yZWFsLW9uZS0zMmI=",
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db.internal/isp",
        **overrides,
    }
    config = type("Prod", (ProductionConfig,), settings)
    with pytest.raises(RuntimeError, match=missing):
        create_app(config)


def test_staff_create_command_creates_a_user_who_can_log_in(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "staff",
            "create",
            "--email",
            "ops@isp-console.co.za",
            "--name",
            "Ops Person",
            "--role",
            "finance",
            "--password",
            "long enough password",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created finance ops@isp-console.co.za" in result.output
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == "ops@isp-console.co.za"))
    assert user.role == "finance"
    audit = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "staff_users"))
    assert audit.reason and audit.after["email"] == "ops@isp-console.co.za"
    assert "password_hash" not in audit.after
    response = client.post(
        "/admin/login", data={"email": "ops@isp-console.co.za", "password": "long enough password"}
    )
    assert response.status_code == 302


def test_staff_create_command_prompts_for_a_missing_password(app):
    result = app.test_cli_runner().invoke(
        args=[
            "staff",
            "create",
            "--email",
            "p@isp-console.co.za",
            "--name",
            "P",
            "--role",
            "viewer",
        ],
        input="prompted password\nprompted password\n",
    )
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(StaffUser)) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--role", "janitor"], "Invalid value for '--role'"),
        (["--password", "short"], "at least 10 characters"),
        (["--email", "not-an-email"], "Invalid e-mail"),
    ],
)
def test_staff_create_command_rejects_bad_input_with_an_exit_code(app, args, message):
    base = {
        "--email": "x@isp-console.co.za",
        "--name": "X",
        "--role": "viewer",
        "--password": "long enough password",
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["staff", "create"] + [part for pair in base.items() for part in pair]
    result = app.test_cli_runner().invoke(args=argv)
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(select(func.count()).select_from(StaffUser)) == 0


def test_duplicate_staff_email_is_refused(app, make_staff):
    make_staff("viewer", email="dup@isp-console.co.za")
    result = app.test_cli_runner().invoke(
        args=[
            "staff",
            "create",
            "--email",
            "DUP@isp-console.co.za",
            "--name",
            "D",
            "--role",
            "admin",
            "--password",
            "long enough password",
        ]
    )
    assert result.exit_code != 0
    assert "already exists" in result.output
