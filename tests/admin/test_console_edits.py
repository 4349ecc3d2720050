"""Console edits go through the domain with a reason and leave an audit row; money, status
and billing dates are out of reach of the generic forms."""

import re
from decimal import Decimal

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, Customer, CustomerService, Setting, StaffUser

SERVICE_PROTECTED_FIELDS = (
    "monthly_price",
    "installation_fee",
    "router_fee",
    "status",
    "billing_date",
    "next_billing_date",
    "last_billing_date",
    "activation_date",
    "suspension_date",
    "cancellation_date",
    "customer_id",
)
CUSTOMER_PROTECTED_FIELDS = ("account_number", "account_status", "portal_password_hash")


def form_field_names(html: bytes) -> set[str]:
    return set(re.findall(r'name="([a-z_0-9]+)"', html.decode()))


def customer_form(customer: Customer, **changes) -> dict:
    """The customer edit form as a browser would submit it, with some fields changed."""
    data = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone or "",
        "account_type": customer.account_type,
    }
    return {**data, **changes}


def service_form(service: CustomerService, **changes) -> dict:
    data = {
        "package_name": service.package_name,
        "installation_address": service.installation_address,
        "connection_id": service.connection_id or "",
        "data_cap": service.data_cap or "",
    }
    return {**data, **changes}


def audit_rows_for(entity_type: str) -> list[AuditLog]:
    return db.session.scalars(
        select(AuditLog).where(AuditLog.entity_type == entity_type).order_by(AuditLog.id)
    ).all()


def test_customer_edit_without_a_reason_is_refused_and_changes_nothing(client, auth, make_customer):
    customer = make_customer(first_name="Thandi")
    auth.login("support")
    audits_before = len(audit_rows_for("customers"))

    response = client.post(
        f"/admin/customers/edit/?id={customer.id}",
        data=customer_form(customer, first_name="Renamed", reason="   "),
    )

    assert response.status_code == 200
    assert b"A reason is required." in response.data
    assert b'name="reason"' in response.data
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).first_name == "Thandi"
    assert len(audit_rows_for("customers")) == audits_before


def test_customer_edit_with_a_reason_changes_the_row_and_audits_it(client, auth, make_customer):
    customer = make_customer(first_name="Thandi", last_name="Nkosi")
    user = auth.login("support")

    response = client.post(
        f"/admin/customers/edit/?id={customer.id}",
        data=customer_form(customer, last_name="Nkosi-Mahlangu", reason="Married, ID attached"),
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/customers/{customer.id}/")
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).last_name == "Nkosi-Mahlangu"
    entry = audit_rows_for("customers")[-1]
    assert entry.actor == user.email
    assert entry.staff_user_id == user.id
    assert entry.reason == "Married, ID attached"
    assert entry.action == "update"
    assert entry.customer_id == customer.id
    assert entry.before["last_name"] == "Nkosi"
    assert entry.after["last_name"] == "Nkosi-Mahlangu"


def test_customer_created_in_the_console_gets_an_account_number_and_an_audit_row(client, auth):
    user = auth.login("support")

    response = client.post(
        "/admin/customers/new/",
        data={
            "first_name": "Naledi",
            "last_name": "Khumalo",
            "email": "Naledi.K@Example.co.za",
            "phone": "0821234567",
            "account_type": "residential",
            "reason": "Walk-in sign-up",
        },
    )

    assert response.status_code == 302
    customer = db.session.scalar(select(Customer).where(Customer.last_name == "Khumalo"))
    assert re.fullmatch(r"CT-\d{4}-\d{5}", customer.account_number)
    assert customer.phone == "+27821234567"
    assert customer.billing is not None
    entry = audit_rows_for("customers")[-1]
    assert (entry.action, entry.actor, entry.reason) == ("create", user.email, "Walk-in sign-up")
    assert entry.before is None and entry.after["email"] == customer.email


def test_a_domain_refusal_shows_on_the_named_field_and_changes_nothing(client, auth, make_customer):
    taken = make_customer(email="taken@example.co.za")
    customer = make_customer(email="mine@example.co.za")
    auth.login("support")
    audits_before = len(audit_rows_for("customers"))

    response = client.post(
        f"/admin/customers/edit/?id={customer.id}",
        data=customer_form(customer, email="TAKEN@example.co.za", reason="typo"),
    )

    assert response.status_code == 200
    assert f"Another customer ({taken.account_number}) already uses this e-mail".encode() in (
        response.data
    )
    bad_phone = client.post(
        f"/admin/customers/edit/?id={customer.id}",
        data=customer_form(customer, phone="12", reason="typo"),
    )
    assert bad_phone.status_code == 200
    assert b"Invalid phone number" in bad_phone.data
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).email == "mine@example.co.za"
    assert len(audit_rows_for("customers")) == audits_before


def test_service_edit_form_offers_no_money_status_or_billing_date_field(client, auth, console_rows):
    auth.login("admin")
    page = client.get(f"/admin/services/edit/?id={console_rows['service']}")
    fields = form_field_names(page.data)
    assert {"package_name", "connection_id", "router_serial", "reason"} <= fields
    assert not fields & set(SERVICE_PROTECTED_FIELDS)


def test_crafted_service_post_cannot_change_money_status_or_billing_dates(
    client, auth, console_rows
):
    service = db.session.get(CustomerService, console_rows["service"])
    protected_before = {name: getattr(service, name) for name in SERVICE_PROTECTED_FIELDS}
    user = auth.login("support")

    response = client.post(
        f"/admin/services/edit/?id={service.id}",
        data=service_form(
            service,
            router_serial="SN-NEW-42",
            monthly_price="1.00",
            installation_fee="0.01",
            router_fee="0.01",
            status="cancelled",
            billing_date="30",
            next_billing_date="2030-01-01",
            last_billing_date="2030-01-01",
            customer_id="999",
            reason="Router replaced under warranty",
        ),
    )

    assert response.status_code == 302
    db.session.expire_all()
    service = db.session.get(CustomerService, console_rows["service"])
    assert service.router_serial == "SN-NEW-42"
    assert {name: getattr(service, name) for name in SERVICE_PROTECTED_FIELDS} == (protected_before)
    assert service.monthly_price == Decimal("899.00")
    entry = audit_rows_for("customer_services")[-1]
    assert entry.actor == user.email
    assert entry.customer_id == console_rows["customer"]
    assert (entry.before["router_serial"], entry.after["router_serial"]) == (None, "SN-NEW-42")


def test_crafted_customer_post_cannot_change_account_number_or_status(client, auth, make_customer):
    customer = make_customer()
    number, status = customer.account_number, customer.account_status
    auth.login("admin")

    response = client.post(
        f"/admin/customers/edit/?id={customer.id}",
        data=customer_form(
            customer,
            account_number="CT-1999-00001",
            account_status="active",
            portal_password_hash="scrypt:forged",
            reason="address update",
        ),
    )

    assert response.status_code == 302
    db.session.expire_all()
    customer = db.session.get(Customer, customer.id)
    assert (customer.account_number, customer.account_status) == (number, status)
    assert customer.portal_password_hash is None


def test_settings_are_created_and_edited_with_a_reason(client, auth, console_rows):
    user = auth.login("admin")

    created = client.post(
        "/admin/settings/new/",
        data={
            "key": "overdue_grace_days",
            "value": "14",
            "effective_from": "2026-01-01",
            "description": "Days past due before suspension",
            "reason": "Policy from the credit committee",
        },
    )
    assert created.status_code == 302
    setting = db.session.scalar(select(Setting).where(Setting.key == "overdue_grace_days"))
    assert setting.value == "14"

    edit_page = client.get(f"/admin/settings/edit/?id={setting.id}")
    assert "key" not in form_field_names(edit_page.data)
    edited = client.post(
        f"/admin/settings/edit/?id={setting.id}",
        data={
            "key": "renamed_key",
            "value": "21",
            "effective_from": "2026-01-01",
            "description": "Days past due before suspension",
            "reason": "Committee relaxed the rule",
        },
    )
    assert edited.status_code == 302
    db.session.expire_all()
    setting = db.session.get(Setting, setting.id)
    assert (setting.key, setting.value) == ("overdue_grace_days", "21")
    create_entry, update_entry = audit_rows_for("settings")
    assert (create_entry.action, create_entry.before) == ("create", None)
    assert (update_entry.before["value"], update_entry.after["value"]) == ("14", "21")
    assert update_entry.actor == user.email


def test_a_duplicate_setting_date_is_refused_without_a_change(client, auth, console_rows):
    auth.login("admin")
    response = client.post(
        "/admin/settings/new/",
        data={"key": "vat_rate", "value": "16", "effective_from": "2018-04-01", "reason": "x"},
    )
    assert response.status_code == 200
    assert b"conflicts with an existing record" in response.data
    assert db.session.scalar(select(func.count()).select_from(Setting)) == 1


def test_staff_user_is_created_through_the_domain_and_its_hash_never_shown(client, auth):
    auth.login("admin")

    response = client.post(
        "/admin/staff_users/new/",
        data={
            "email": "Finance.Lead@staff.isp-console.co.za",
            "name": "Finance Lead",
            "role": "finance",
            "password": "a long enough password",
            "reason": "New hire",
        },
    )

    assert response.status_code == 302
    user = db.session.scalar(select(StaffUser).where(StaffUser.name == "Finance Lead"))
    assert user.role == "finance"
    assert user.password_hash.startswith("scrypt")
    for url in ("/admin/staff_users/", f"/admin/staff_users/details/?id={user.id}"):
        page = client.get(url).data
        assert user.password_hash.encode() not in page
        assert b"Password Hash" not in page
    export = client.get("/admin/staff_users/export/csv/").data
    assert user.password_hash.encode() not in export
    assert audit_rows_for("staff_users")[-1].reason == "New hire"


def test_changing_a_staff_role_ends_their_sessions_and_is_audited(client, auth, make_staff):
    colleague = make_staff("support")
    version = colleague.session_version
    auth.login("admin")

    response = client.post(
        f"/admin/staff_users/edit/?id={colleague.id}",
        data={"name": colleague.name, "role": "viewer", "is_active": "y", "reason": "Moved team"},
    )

    assert response.status_code == 302
    db.session.expire_all()
    colleague = db.session.get(StaffUser, colleague.id)
    assert colleague.role == "viewer"
    assert colleague.session_version == version + 1
    entry = audit_rows_for("staff_users")[-1]
    assert (entry.before["role"], entry.after["role"]) == ("support", "viewer")


def test_an_admin_cannot_demote_themselves(client, auth):
    me = auth.login("admin")

    response = client.post(
        f"/admin/staff_users/edit/?id={me.id}",
        data={"name": me.name, "role": "viewer", "is_active": "y", "reason": "oops"},
    )

    assert response.status_code == 200
    assert b"You cannot change your own role" in response.data
    db.session.expire_all()
    assert db.session.get(StaffUser, me.id).role == "admin"
