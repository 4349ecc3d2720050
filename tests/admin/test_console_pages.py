"""Every console view renders for an administrator, and nobody anonymous gets in."""

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app import clock
from app.accounts import create_customer
from app.clock import BUSINESS_TZ
from app.extensions import db
from app.models import (
    Allocation,
    AuditLog,
    ConsumerOrder,
    CreditNote,
    CronExecutionLog,
    Customer,
    CustomerBilling,
    CustomerInvoice,
    CustomerPaymentMethod,
    CustomerService,
    DebitOrderBatch,
    DebitOrderItem,
    DunningAction,
    LedgerEntry,
    NetcashPostback,
    NetcashStatementLine,
    Notification,
    PaymentRequest,
    PaymentTransaction,
    ProviderTask,
    ServiceActionLog,
    ServiceSuspension,
    Setting,
    StaffUser,
    UsageHistory,
    ValidationError,
)

CONSOLE_VIEWS = {
    "customers": Customer,
    "services": CustomerService,
    "usage": UsageHistory,
    "suspensions": ServiceSuspension,
    "orders": ConsumerOrder,
    "customer_billing": CustomerBilling,
    "invoices": CustomerInvoice,
    "credit_notes": CreditNote,
    "allocations": Allocation,
    "ledger_entries": LedgerEntry,
    "payments": PaymentTransaction,
    "payment_methods": CustomerPaymentMethod,
    "payment_requests": PaymentRequest,
    "debit_order_batches": DebitOrderBatch,
    "debit_order_items": DebitOrderItem,
    "debit_order_returns": DebitOrderItem,
    "netcash_statement_lines": NetcashStatementLine,
    "netcash_postbacks": NetcashPostback,
    "job_runs": CronExecutionLog,
    "notifications": Notification,
    "provider_tasks": ProviderTask,
    "dunning_actions": DunningAction,
    "validation_errors": ValidationError,
    "audit_log": AuditLog,
    "service_action_log": ServiceActionLog,
    "settings": Setting,
    "staff_users": StaffUser,
}
CREATE_PAGES = ("customers", "settings", "staff_users")
EDIT_PAGES = ("customers", "services", "settings", "staff_users")


def first_id(model) -> int:
    return db.session.scalar(select(model.id).order_by(model.id).limit(1))


def test_the_console_registers_exactly_the_expected_views(app):
    registered = {
        rule.endpoint.split(".")[0]
        for rule in app.url_map.iter_rules()
        if rule.endpoint.endswith(".index_view")
    }
    assert registered - {"admin"} == set(CONSOLE_VIEWS)


def test_every_list_and_details_page_renders_for_admin(client, auth, console_rows):
    auth.login("admin")
    for endpoint, model in CONSOLE_VIEWS.items():
        listing = client.get(f"/admin/{endpoint}/")
        assert listing.status_code == 200, endpoint
        assert b'<meta name="csrf-token"' in listing.data, endpoint
        record_id = first_id(model)
        assert record_id is not None, f"the fixture seeds no {model.__name__}"
        details = client.get(f"/admin/{endpoint}/details/?id={record_id}", follow_redirects=True)
        assert details.status_code == 200, endpoint


def test_list_search_filters_and_sorting_render(client, auth, console_rows):
    auth.login("admin")
    assert b"Lerato" in client.get("/admin/customers/?search=Dlamini").data
    assert b"Lerato" not in client.get("/admin/customers/?search=Nobody").data
    assert b"IS-0001" in client.get("/admin/services/?flt0_status_equals=active").data
    assert b"IS-0001" not in client.get("/admin/services/?flt0_status_equals=cancelled").data
    assert client.get("/admin/audit_log/?sort=0&desc=1").status_code == 200


@pytest.mark.parametrize(
    "search",
    ["082 555 0199", "+27825550199", "Lerato Dlamini", "lerato.", "CT-"],
    ids=["local phone", "e164 phone", "full name", "e-mail prefix", "account number"],
)
def test_customers_are_found_by_name_email_phone_or_account_number(
    client, auth, make_customer, search
):
    make_customer(
        first_name="Lerato",
        last_name="Dlamini",
        email="lerato.d@example.co.za",
        phone="082 555 0199",
    )
    make_customer(
        first_name="Sipho", last_name="Mokoena", email="sipho@example.org", phone="083 111 2222"
    )
    auth.login("viewer")
    page = client.get("/admin/customers/", query_string={"search": search}).data
    assert b"Dlamini" in page
    if search != "CT-":
        assert b"Mokoena" not in page


def test_create_and_edit_pages_render_for_admin(client, auth, console_rows):
    auth.login("admin")
    for endpoint in CREATE_PAGES:
        page = client.get(f"/admin/{endpoint}/new/")
        assert page.status_code == 200, endpoint
        assert b'name="reason"' in page.data, endpoint
    for endpoint in EDIT_PAGES:
        record_id = first_id(CONSOLE_VIEWS[endpoint])
        page = client.get(f"/admin/{endpoint}/edit/?id={record_id}")
        assert page.status_code == 200, endpoint
        assert b'name="reason"' in page.data, endpoint


def test_read_only_views_offer_no_create_or_edit(client, auth, console_rows):
    auth.login("admin")
    for endpoint, model in CONSOLE_VIEWS.items():
        listing = client.get(f"/admin/{endpoint}/").data
        if endpoint not in CREATE_PAGES:
            assert f"/admin/{endpoint}/new/".encode() not in listing, endpoint
            assert client.get(f"/admin/{endpoint}/new/").status_code == 403, endpoint
        if endpoint not in EDIT_PAGES:
            assert f"/admin/{endpoint}/edit/".encode() not in listing, endpoint
            edit = client.post(f"/admin/{endpoint}/edit/?id={first_id(model)}", data={})
            assert edit.status_code == 403, endpoint


def test_delete_is_refused_everywhere(client, auth, console_rows):
    auth.login("admin")
    for endpoint, model in CONSOLE_VIEWS.items():
        record_id = first_id(model)
        response = client.post(f"/admin/{endpoint}/delete/", data={"id": record_id})
        assert response.status_code == 403, endpoint
        assert db.session.get(model, record_id) is not None, endpoint


def test_anonymous_visits_to_any_view_redirect_to_login(client, console_rows):
    for endpoint in [*CONSOLE_VIEWS, f"customers/{console_rows['customer']}"]:
        response = client.get(f"/admin/{endpoint}/")
        assert response.status_code == 302, endpoint
        assert response.headers["Location"].startswith(f"/admin/login?next=/admin/{endpoint}/")
    assert client.get("/admin/customers/export/csv/").status_code == 302


def test_menu_groups_views_into_categories(client, auth):
    auth.login("admin")
    page = client.get("/admin/").data.decode()
    categories = re.findall(r'data-toggle="dropdown"[^>]*>\s*(?:<!--[^>]*-->\s*)?(\w+)<', page)
    assert categories == ["Customers", "Billing", "Payments", "Operations", "Logs", "Settings"]
    assert "/admin/staff_users/" in page


def test_timestamps_show_in_johannesburg_time_and_money_in_rand(client, auth, console_rows):
    auth.login("admin")
    invoices = client.get("/admin/invoices/").data.decode()
    assert "R 899.00" in invoices
    customers = client.get("/admin/customers/").data.decode()
    assert "Amount due R 299.00" in customers
    created = db.session.get(Customer, console_rows["customer"]).created_at
    assert created.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M SAST") in customers


def test_time_filters_read_typed_times_as_johannesburg_time(client, auth, system_actor):
    with clock.frozen_at(datetime(2026, 3, 2, 8, 30, tzinfo=UTC)):  # 10:30 SAST
        customer = create_customer(
            actor=system_actor,
            reason="frozen-clock sign-up",
            first_name="Zanele",
            last_name="Mthembu",
            email="zanele@example.co.za",
        )
        db.session.commit()
    auth.login("viewer")

    def audit_page(**query) -> str:
        return client.get("/admin/audit_log/", query_string=query).get_data(as_text=True)

    assert "frozen-clock sign-up" in audit_page(flt0_when_greater_than="2026-03-02 10:29:00")
    assert "frozen-clock sign-up" not in audit_page(flt0_when_greater_than="2026-03-02 10:31:00")
    between = audit_page(flt0_when_between="2026-03-02 10:00:00 to 2026-03-02 11:00:00")
    assert "frozen-clock sign-up" in between
    assert customer.account_number in between
