"""CSV exports are safe to open in a spreadsheet and never carry secrets."""

import csv
import io
from decimal import Decimal

import pytest

from admin.formatters import balance_wording, format_rand, neutralise_formula
from admin.views import ConsoleModelView
from app.models import CustomerPaymentMethod, StaffUser
from tests.admin.conftest import CIPHERTEXT


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.parametrize(
    ("cell", "exported"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+27821234567 call me", "'+27821234567 call me"),
        ("-R 12.50", "'-R 12.50"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-12.50", "-12.50"),
        ("+15", "+15"),
        ("Dlamini", "Dlamini"),
        (Decimal("-12.50"), Decimal("-12.50")),
        (None, None),
    ],
)
def test_formula_cells_are_neutralised_and_plain_numbers_kept(cell, exported):
    assert neutralise_formula(cell) == exported


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("1234.56"), "R 1 234.56"),
        (Decimal("1234567.8"), "R 1 234 567.80"),
        (Decimal("0"), "R 0.00"),
        (Decimal("-12.5"), "-R 12.50"),
    ],
)
def test_money_is_shown_in_rand_with_cents(amount, shown):
    assert format_rand(amount) == shown


def test_balance_wording_says_who_owes_whom():
    assert balance_wording(Decimal("150.00")) == "Amount due R 150.00"
    assert balance_wording(Decimal("-20.00")) == "Credit R 20.00"
    assert balance_wording(Decimal("0.00")) == "Nothing due"


def test_customer_export_escapes_formula_names(client, auth, make_customer):
    make_customer(first_name="Eve", last_name='=HYPERLINK("http://evil.example","click")')
    auth.login("viewer")

    header, *rows = csv_rows(client.get("/admin/customers/export/csv/"))

    last_names = [row[header.index("Last Name")] for row in rows]
    assert last_names == ['\'=HYPERLINK("http://evil.example","click")']
    assert not any(cell.startswith("=") for row in rows for cell in row)


def test_customer_export_contains_no_secrets_or_html(client, auth, console_rows):
    auth.login("admin")
    export = client.get("/admin/customers/export/csv/")
    header, *rows = csv_rows(export)
    assert "Portal Password Hash" not in header
    assert rows[0][header.index("Account Number")].startswith("CT-")
    assert "<a " not in export.get_data(as_text=True)
    assert CIPHERTEXT not in export.get_data(as_text=True)


def test_payment_method_pages_and_export_never_show_the_encrypted_details(
    client, auth, console_rows
):
    auth.login("admin")
    method_id = console_rows["payment_method"]
    pages = {
        "list": client.get("/admin/payment_methods/"),
        "details": client.get(f"/admin/payment_methods/details/?id={method_id}"),
        "search": client.get("/admin/payment_methods/?search=FNB"),
        "export": client.get("/admin/payment_methods/export/csv/"),
        "customer page": client.get(f"/admin/customers/{console_rows['customer']}/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        body = response.get_data(as_text=True)
        assert CIPHERTEXT not in body, name
        assert "Encrypted Details" not in body, name
        assert "***5678" in body, name


def test_secret_bearing_columns_of_other_views_stay_hidden(client, auth, console_rows):
    auth.login("admin")
    for url in (
        "/admin/payment_requests/",
        "/admin/payment_requests/details/?id=1",
        "/admin/payment_requests/export/csv/",
    ):
        assert b"pay-now-shared-secret-value" not in client.get(url).data, url
    for url in (
        "/admin/debit_order_batches/details/?id=1",
        "/admin/debit_order_batches/export/csv/",
    ):
        assert b"62012345678" not in client.get(url).data, url


def test_the_base_view_keeps_secret_columns_out_of_search_and_forms(app):
    class LeakySearch(ConsoleModelView):
        column_searchable_list = ("display_name", "encrypted_details")
        column_filters = ("encrypted_details", "method_type")

    view = LeakySearch(CustomerPaymentMethod, endpoint="leaky_search")
    assert view.column_searchable_list == ["display_name"]
    assert view.column_filters == ["method_type"]

    class LeakyForm(ConsoleModelView):
        change_permission = "staff:manage"
        edit_fields = ("name", "password_hash")

    with pytest.raises(ValueError, match="secret column"):
        LeakyForm(StaffUser, endpoint="leaky_form")
