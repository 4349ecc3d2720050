"""Who may see and change what in the console (DESIGN §4 role table)."""

from sqlalchemy import func, select

from app.auth import update_staff_user
from app.extensions import db
from app.models import AuditLog, Customer, CustomerService, Setting, StaffUser

CUSTOMER_FORM = {
    "first_name": "Changed",
    "last_name": "Name",
    "email": "changed@example.co.za",
    "phone": "082 555 0100",
    "account_type": "residential",
    "reason": "trying anyway",
}


def audit_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditLog))


def test_viewer_sees_no_create_or_edit_links(client, auth, console_rows):
    auth.login("viewer")
    for endpoint in ("customers", "services", "settings"):
        listing = client.get(f"/admin/{endpoint}/")
        assert listing.status_code == 200, endpoint
        assert f"/admin/{endpoint}/new/".encode() not in listing.data, endpoint
        assert f"/admin/{endpoint}/edit/".encode() not in listing.data, endpoint
    page = client.get(f"/admin/customers/{console_rows['customer']}/").data
    assert b"/admin/customers/edit/" not in page
    assert b"/admin/services/edit/" not in page


def test_viewer_posts_to_create_and_edit_are_refused_and_change_nothing(client, auth, console_rows):
    auth.login("viewer")
    customer_id, service_id = console_rows["customer"], console_rows["service"]
    audit_before = audit_rows()

    assert client.post("/admin/customers/new/", data=CUSTOMER_FORM).status_code == 403
    assert (
        client.post(f"/admin/customers/edit/?id={customer_id}", data=CUSTOMER_FORM).status_code
        == 403
    )
    service_form = {"package_name": "Hijacked", "installation_address": "x", "reason": "x"}
    assert (
        client.post(f"/admin/services/edit/?id={service_id}", data=service_form).status_code == 403
    )
    setting_form = {"value": "99", "effective_from": "2018-04-01", "reason": "x"}
    setting_id = console_rows["setting"]
    assert (
        client.post(f"/admin/settings/edit/?id={setting_id}", data=setting_form).status_code == 403
    )

    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 1
    assert db.session.get(Customer, customer_id).first_name == "Lerato"
    assert db.session.get(CustomerService, service_id).package_name == "Fibre 100/50"
    assert db.session.get(Setting, setting_id).value == "15"
    assert audit_rows() == audit_before


def test_staff_users_are_hidden_and_refused_for_everyone_but_admin(client, auth):
    for role in ("viewer", "support", "finance"):
        auth.login(role)
        assert client.get("/admin/staff_users/").status_code == 403, role
        assert client.get("/admin/staff_users/new/").status_code == 403, role
        assert b"/admin/staff_users/" not in client.get("/admin/").data, role
        auth.logout()


def test_support_cannot_create_staff_users(client, auth):
    auth.login("support")
    form = {
        "email": "new.admin@staff.isp-console.co.za",
        "name": "Sneaky",
        "role": "admin",
        "password": "long enough password",
        "reason": "promotion",
    }
    assert client.post("/admin/staff_users/new/", data=form).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(StaffUser)) == 1


def test_support_edits_customers_but_not_settings(client, auth, console_rows):
    auth.login("support")
    assert client.get(f"/admin/customers/edit/?id={console_rows['customer']}").status_code == 200
    assert client.get("/admin/settings/").status_code == 200
    assert client.get(f"/admin/settings/edit/?id={console_rows['setting']}").status_code == 403
    assert client.get("/admin/settings/new/").status_code == 403


def test_finance_cannot_edit_customers_or_services(client, auth, console_rows):
    auth.login("finance")
    customer_id = console_rows["customer"]
    assert client.get("/admin/customers/").status_code == 200
    assert client.get(f"/admin/customers/edit/?id={customer_id}").status_code == 403
    assert (
        client.post(f"/admin/customers/edit/?id={customer_id}", data=CUSTOMER_FORM).status_code
        == 403
    )
    assert client.get("/admin/customers/new/").status_code == 403
    assert client.get(f"/admin/services/edit/?id={console_rows['service']}").status_code == 403
    db.session.expire_all()
    assert db.session.get(Customer, customer_id).first_name == "Lerato"


def test_audit_views_are_open_to_every_role(client, auth, console_rows):
    for role in ("viewer", "support", "finance", "admin"):
        auth.login(role)
        assert client.get("/admin/audit_log/").status_code == 200, role
        assert client.get("/admin/service_action_log/").status_code == 200, role
        auth.logout()


def test_deactivated_staff_lose_the_console_at_once(client, auth, system_actor):
    user = auth.login("support")
    assert client.get("/admin/customers/").status_code == 200
    update_staff_user(user, actor=system_actor, reason="left the company", is_active=False)
    db.session.commit()
    response = client.get("/admin/customers/")
    assert response.status_code == 302
    assert "/admin/login" in response.headers["Location"]
