"""One console page per customer shows everything support needs, in bounded queries."""

import re
from decimal import Decimal

from sqlalchemy import event

from app.extensions import db
from app.models import CustomerService


def test_customer_page_shows_account_services_money_methods_and_balance(client, auth, console_rows):
    auth.login("viewer")

    page = client.get(f"/admin/customers/{console_rows['customer']}/")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<meta name="csrf-token"' in html
    assert "Lerato Dlamini" in html
    assert re.search(r"CT-\d{4}-\d{5}", html)
    assert "Fibre 100/50" in html and "IS-0001" in html
    assert console_rows["invoice_number"] in html
    assert "R 899.00" in html
    assert "Outage credit" in html
    assert "R 500.00" in html
    assert "Debit Order - FNB ***5678" in html
    assert "Amount due R 299.00" in html


def test_customer_page_words_a_credit_balance_as_credit(client, auth, make_customer):
    customer = make_customer()
    customer.billing.account_balance = Decimal("-45.50")
    db.session.commit()
    auth.login("viewer")

    html = client.get(f"/admin/customers/{customer.id}/").get_data(as_text=True)

    assert "Credit R 45.50" in html
    assert "Amount due" not in html


def test_customer_page_audit_timeline_lists_who_when_why_and_what_newest_first(
    client, auth, console_rows
):
    auth.login("support")
    # A console edit of the service adds a third, newest, entry to the timeline.
    service = db.session.get(CustomerService, console_rows["service"])
    client.post(
        f"/admin/services/edit/?id={service.id}",
        data={
            "package_name": service.package_name,
            "installation_address": service.installation_address,
            "connection_id": service.connection_id,
            "router_model": "Huawei HG8145",
            "reason": "Technician swapped the ONT",
        },
    )

    html = client.get(f"/admin/customers/{console_rows['customer']}/").get_data(as_text=True)

    timeline = html[html.index('id="audit-timeline"') :]
    reasons = ["Technician swapped the ONT", "Router swapped", "Installation completed"]
    positions = [timeline.index(reason) for reason in reasons]
    assert positions == sorted(positions), "newest entry first"
    assert auth.user.email in timeline
    assert "support@staff.isp-console.co.za" in timeline
    assert "Old router &rarr; New router" in timeline
    assert "Huawei HG8145" in timeline
    assert "pending &rarr; active" in timeline
    assert "test fixture" in timeline  # the customer's own creation


def test_customer_list_links_account_numbers_to_the_customer_page(client, auth, console_rows):
    auth.login("viewer")
    html = client.get("/admin/customers/").get_data(as_text=True)
    assert f'href="/admin/customers/{console_rows["customer"]}/"' in html
    details = client.get(f"/admin/customers/details/?id={console_rows['customer']}")
    assert details.status_code == 302
    assert details.headers["Location"].endswith(f"/admin/customers/{console_rows['customer']}/")


def test_customer_page_queries_do_not_grow_with_its_rows(client, auth, console_rows):
    auth.login("viewer")
    url = f"/admin/customers/{console_rows['customer']}/"
    client.get(url)  # warm-up: the session user and template caches

    def count_queries() -> int:
        statements = []

        def remember(*args):
            statements.append(args)

        event.listen(db.engine, "before_cursor_execute", remember)
        try:
            assert client.get(url).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", remember)
        return len(statements)

    baseline = count_queries()
    service = db.session.get(CustomerService, console_rows["service"])
    for number in range(5):
        db.session.add(
            CustomerService(
                customer_id=service.customer_id,
                service_type="lte",
                package_name=f"LTE {number}",
                installation_address="same",
                monthly_price=Decimal("299.00"),
                billing_date=1,
                status="pending",
            )
        )
    db.session.commit()

    assert count_queries() == baseline
