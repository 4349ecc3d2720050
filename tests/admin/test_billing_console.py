"""The billing console: finance dashboard, invoice run (preview, start, progress), "generate
invoices now", and the invoice actions (PDF, payment, credit note, cancellation)."""

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pypdf
import pytest
from sqlalchemy import func, select

from app import clock, create_app
from app.billing.calendar import Period
from app.billing.invoicing import issue_period_invoice, run_invoices
from app.billing.money import split_vat
from app.billing.reports import (
    aging_by_customer,
    finance_dashboard,
    invoiced_and_collected,
    receivables_aging,
)
from app.extensions import db
from app.models import (
    AuditLog,
    CreditNote,
    CronExecutionLog,
    CustomerInvoice,
    CustomerService,
    InvoiceNumberCounter,
    PaymentTransaction,
    ServiceSuspension,
)
from tests.conftest import PG_DATABASE_URL, TEST_PASSWORD, make_test_config

RUN_DATE = date(2026, 11, 24)  # the run invoices periods starting up to 1 Dec 2026
ROLES = ("admin", "support", "finance", "viewer")


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(RUN_DATE):
        yield


@pytest.fixture
def document_dir(app, tmp_path, monkeypatch):
    """PDFs rendered by a test are stored in its own directory."""
    monkeypatch.setitem(app.config, "INVOICE_STORAGE_DIR", str(tmp_path / "documents"))


def money(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def add_service(make_customer):
    """Factory: a committed service (active unless told otherwise)."""

    def _add(
        customer=None,
        *,
        billing_date=1,
        price="799.00",
        next_billing_date=date(2026, 12, 1),
        status="active",
        package_name="Fibre 100",
    ):
        service = CustomerService(
            customer_id=(customer or make_customer()).id,
            service_type="fibre",
            package_name=package_name,
            installation_address="12 Jan Smuts Ave, Rosebank",
            monthly_price=money(price),
            installation_fee=money("0"),
            router_fee=money("0"),
            billing_date=billing_date,
            next_billing_date=next_billing_date,
            status=status,
            activation_date=date(2026, 1, 1),
        )
        db.session.add(service)
        db.session.commit()
        return service

    return _add


@pytest.fixture
def add_open_invoice():
    """Factory: an invoice (no service period) with the given total, due date and money
    already received, for aging and overdue figures."""

    def _add(customer, total, *, due, paid="0", credited="0", status=None):
        total, paid, credited = money(total), money(paid), money(credited)
        split = split_vat(total, Decimal("15"))
        invoice = CustomerInvoice(
            customer_id=customer.id,
            invoice_date=due - timedelta(days=7),
            due_date=due,
            subtotal=split.subtotal,
            vat_rate=money("15"),
            vat_amount=split.vat_amount,
            total_amount=total,
            amount_paid=paid,
            amount_credited=credited,
            line_items=[{"description": "Adjustment", "amount": str(total)}],
            invoice_type="adjustment",
            status=status or ("partial" if paid + credited else "unpaid"),
        )
        db.session.add(invoice)
        db.session.commit()
        return invoice

    return _add


@pytest.fixture
def issued_invoice(add_service, system_actor):
    """A real recurring invoice INV-2026-00001 of R799.00 for December, due 1 Dec 2026."""
    service = add_service(price="799.00")
    run_invoices(RUN_DATE, actor=system_actor)
    return db.session.scalars(
        select(CustomerInvoice).where(CustomerInvoice.service_id == service.id)
    ).one()


# --- The finance dashboard ------------------------------------------------------------------


@pytest.fixture
def finance_data(make_customer, add_service, add_open_invoice):
    """Two active services (R799 + R499), one suspended and one cancelled; invoices in every
    aging bucket; paid and cancelled invoices that owe nothing; job runs."""
    customer = make_customer(first_name="Naledi", last_name="Khumalo")
    add_service(customer, price="799.00")
    add_service(customer, price="499.00", billing_date=25)
    add_service(customer, price="599.00", status="suspended")
    add_service(customer, price="999.00", status="cancelled", next_billing_date=None)
    today = RUN_DATE
    add_open_invoice(customer, "100.00", due=today + timedelta(days=5))  # not yet due
    add_open_invoice(customer, "200.00", due=today - timedelta(days=10), status="overdue")
    add_open_invoice(customer, "300.00", due=today - timedelta(days=2), paid="100.00")  # grace
    add_open_invoice(customer, "400.00", due=today - timedelta(days=45), status="overdue")
    add_open_invoice(customer, "500.00", due=today - timedelta(days=75), credited="100.00")
    add_open_invoice(customer, "600.00", due=today - timedelta(days=120), status="overdue")
    add_open_invoice(
        customer, "700.00", due=today - timedelta(days=50), paid="700.00", status="paid"
    )
    add_open_invoice(
        customer, "800.00", due=today - timedelta(days=50), credited="800.00", status="cancelled"
    )
    formula_customer = make_customer(first_name='=HYPERLINK("http://x","y")', last_name="Eve")
    add_open_invoice(formula_customer, "50.00", due=today - timedelta(days=31))
    db.session.add_all(
        [
            CronExecutionLog(
                job_name="invoice_run",
                business_date=today - timedelta(days=1),
                execution_start=clock.now() - timedelta(days=1),
                status="completed",
                records_processed=7,
            ),
            CronExecutionLog(
                job_name="invoice_run",
                business_date=today,
                execution_start=clock.now() - timedelta(hours=1),
                status="partial",
                records_processed=11,
                records_failed=2,
                chunks_total=3,
                chunks_done=3,
            ),
            CronExecutionLog(
                job_name="overdue_run",
                business_date=today,
                execution_start=clock.now() - timedelta(hours=2),
                status="failed",
                records_failed=1,
            ),
        ]
    )
    db.session.commit()
    return {"customer": customer, "formula_customer": formula_customer}


def test_aging_puts_money_due_in_its_bucket_by_days_past_due(finance_data):
    aging = receivables_aging(RUN_DATE)
    assert aging.amounts == {
        "not_due": money("100.00"),
        "days_0_30": money("400.00"),  # 200 ten days late + 200 still due two days late
        "days_31_60": money("450.00"),  # 400 + 50 exactly 31 days late
        "days_61_90": money("400.00"),  # 500 less a 100 credit
        "days_over_90": money("600.00"),
    }
    assert aging.total == money("1950.00")
    assert aging.invoices == 7


def test_dashboard_shows_services_revenue_overdue_and_aging(client, auth, finance_data):
    auth.login("viewer")
    page = text_of(client.get("/admin/"))

    assert re.search(r'id="active-services">2<', page)
    assert 'id="mrr">R 1 298.00<' in page
    # VAT is inside the prices: 1298 × 15/115 = 169.30, so R1 128.70 without it.
    assert "R 1 128.70 excl. VAT" in page
    # Past due date + 3 grace days: 200 + 400 + 400 + 600 + 50 (not the 300 inside grace).
    assert 'id="amount-overdue">R 1 650.00<' in page
    aging = page[page.index('id="aging"') :]
    for bucket, amount in [
        ("not_due", "R 100.00"),
        ("days_0_30", "R 400.00"),
        ("days_31_60", "R 450.00"),
        ("days_61_90", "R 400.00"),
        ("days_over_90", "R 600.00"),
    ]:
        assert re.search(
            rf'data-bucket="{bucket}"><td>[^<]*</td><td class="text-right">{amount}</td>', aging
        ), bucket
    assert "<svg" in page and "Receivables by days past due" in page
    assert "https://" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_dashboard_lists_the_last_run_of_every_job(client, auth, finance_data):
    auth.login("finance")
    page = text_of(client.get("/admin/"))
    runs = page[page.index('id="last-job-runs"') :]
    assert runs.count("<tr>") == 1 + 2  # header row + one row per job
    assert "invoice_run" in runs and "overdue_run" in runs
    newest = db.session.scalar(
        select(CronExecutionLog.id).where(CronExecutionLog.status == "partial")
    )
    assert f"/admin/job_runs/details/?id={newest}" in runs
    assert f"/admin/invoice_run/runs/{newest}" in runs
    assert "3/3" in runs and ">partial<" in runs and ">failed<" in runs
    assert "2026-11-24 08:00 SAST" in runs  # started an hour before 09:00 SAST


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_dashboard(client, auth, finance_data, role):
    auth.login(role)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b'<meta name="csrf-token"' in response.data
    assert b'id="mrr">R 1 298.00<' in response.data


def test_aging_export_lists_each_customer_with_formulas_neutralised(client, auth, finance_data):
    auth.login("viewer")
    response = client.get("/admin/aging.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "aging-2026-11-24.csv" in response.headers["Content-Disposition"]
    header, *rows = list(csv.reader(io.StringIO(text_of(response))))
    assert header == [
        "Account number",
        "Customer",
        "E-mail",
        "Not yet due",
        "0–30 days",
        "31–60 days",
        "61–90 days",
        "90+ days",
        "Total due",
    ]
    by_account = {row[0]: row for row in rows}
    naledi = by_account[finance_data["customer"].account_number]
    assert naledi[1:2] + naledi[3:] == [
        "Naledi Khumalo",
        "100.00",
        "400.00",
        "400.00",
        "400.00",
        "600.00",
        "1900.00",
    ]
    formula = by_account[finance_data["formula_customer"].account_number]
    assert formula[1] == '\'=HYPERLINK("http://x","y") Eve'
    assert formula[5:] == ["50.00", "0.00", "0.00", "50.00"]
    assert not any(cell.startswith("=") for row in rows for cell in row)


def test_invoiced_and_collected_per_month_nets_credit_notes_and_ignores_reversals(
    make_customer, add_open_invoice
):
    customer = make_customer()
    november = add_open_invoice(customer, "1000.00", due=date(2026, 11, 20))  # invoiced 13 Nov
    add_open_invoice(customer, "300.00", due=date(2026, 10, 10))  # invoiced 3 Oct
    split = split_vat(money("100.00"), Decimal("15"))
    db.session.add_all(
        [
            CreditNote(
                customer_id=customer.id,
                invoice_id=november.id,
                credit_note_date=date(2026, 11, 14),
                subtotal=split.subtotal,
                vat_rate=money("15"),
                vat_amount=split.vat_amount,
                total_amount=money("100.00"),
                reason="Outage",
                actor="pytest",
            ),
            *[
                PaymentTransaction(
                    transaction_id=key,
                    customer_id=customer.id,
                    method="eft",
                    amount=money(amount),
                    status=status,
                    payment_date=date(2026, 11, 15),
                    actor="pytest",
                )
                for key, amount, status in [
                    ("P-1", "500.00", "completed"),
                    ("P-2", "200.00", "reversed"),
                ]
            ],
        ]
    )
    db.session.commit()

    months = invoiced_and_collected(RUN_DATE)

    assert [m.month for m in months][:1] == [date(2025, 12, 1)]
    assert len(months) == 12 and months[-1].month == date(2026, 11, 1)
    assert (months[-1].invoiced, months[-1].collected) == (money("900.00"), money("500.00"))
    assert (months[-2].invoiced, months[-2].collected) == (money("300.00"), money("0.00"))


@pytest.mark.sqlite
def test_dashboard_figures_are_computed_the_same_on_sqlite(sqlite_app, system_actor):
    from app.accounts import create_customer

    customer = create_customer(
        actor=system_actor, reason="test", first_name="Ayanda", last_name="Zulu", email="a@x.co"
    )
    db.session.flush()
    db.session.add(
        CustomerService(
            customer_id=customer.id,
            service_type="lte",
            package_name="LTE 50",
            installation_address="3 Long Street, Cape Town",
            monthly_price=money("599.00"),
            installation_fee=money("0"),
            router_fee=money("0"),
            billing_date=5,
            status="active",
        )
    )
    for total, due in [("120.00", RUN_DATE - timedelta(days=40)), ("80.00", RUN_DATE)]:
        split = split_vat(money(total), Decimal("15"))
        db.session.add(
            CustomerInvoice(
                customer_id=customer.id,
                invoice_date=due - timedelta(days=7),
                due_date=due,
                subtotal=split.subtotal,
                vat_rate=money("15"),
                vat_amount=split.vat_amount,
                total_amount=money(total),
                amount_paid=money("0"),
                amount_credited=money("0"),
                line_items=[],
                invoice_type="adjustment",
                status="unpaid",
            )
        )
    db.session.add(
        CronExecutionLog(job_name="usage_sync", execution_start=clock.now(), status="completed")
    )
    db.session.commit()

    dashboard = finance_dashboard(RUN_DATE)

    assert dashboard.revenue.active_services == 1
    assert dashboard.revenue.monthly_total == money("599.00")
    assert dashboard.overdue == money("120.00")
    assert dashboard.aging.amounts["days_31_60"] == money("120.00")
    assert dashboard.aging.amounts["days_0_30"] == money("80.00")
    assert dashboard.months[-1].invoiced == money("80.00")  # invoiced 17 Nov
    assert [run.job_name for run in dashboard.last_runs] == ["usage_sync"]
    assert aging_by_customer(RUN_DATE)[0].total == money("200.00")


# --- The invoice run ------------------------------------------------------------------------


@pytest.fixture
def run_world(make_customer, add_service, system_actor):
    """Services due by the 1 Dec horizon on billing days 1, 25 and 30 (none on day 5), one
    suspended with billing paused, and previous periods to compare with: one unchanged,
    one whose price rose 25 %."""
    steady = add_service(price="799.00", billing_date=1, package_name="Fibre 100")
    risen = add_service(price="799.00", billing_date=1, package_name="Fibre 200")
    for service in (steady, risen):
        issue_period_invoice(
            service,
            Period(date(2026, 11, 1), date(2026, 12, 1)),
            invoice_type="recurring",
            invoice_date=date(2026, 10, 25),
            actor=system_actor,
        )
    risen.monthly_price = money("999.00")
    day_25 = add_service(price="599.00", billing_date=25, next_billing_date=date(2026, 11, 25))
    add_service(price="999.00", billing_date=30, next_billing_date=date(2026, 11, 30))
    add_service(price="399.00", billing_date=5, next_billing_date=date(2026, 12, 5))
    paused = add_service(price="299.00", billing_date=1, status="suspended")
    db.session.add(
        ServiceSuspension(
            service_id=paused.id,
            customer_id=paused.customer_id,
            suspension_type="customer_request",
            reason="Travelling",
            skip_billing=True,
            suspended_at=clock.now() - timedelta(days=3),
        )
    )
    db.session.commit()
    return {"steady": steady, "risen": risen, "day_25": day_25, "paused": paused}


def invoice_counter() -> int:
    return db.session.scalar(select(InvoiceNumberCounter.last_number))


def test_preview_shows_totals_per_billing_day_and_writes_nothing(client, auth, run_world):
    auth.login("finance")
    invoices_before, counter_before, audit_before = (
        count(CustomerInvoice),
        invoice_counter(),
        count(AuditLog),
    )

    response = client.get("/admin/invoice_run/", query_string={"date": "2026-11-24"})

    assert response.status_code == 200
    page = text_of(response)
    by_day = page[page.index('id="preview-by-billing-day"') :]
    for day, invoices, total in [
        ("1", 2, "R 1 798.00"),
        ("5", 0, "R 0.00"),
        ("25", 1, "R 599.00"),
        ("30", 1, "R 999.00"),
        ("all", 4, "R 3 396.00"),
    ]:
        assert re.search(
            rf'data-billing-day="{day}"><td>[^<]*</td><td class="text-right">{invoices}</td>'
            rf'<td class="text-right">{total}</td>',
            by_day,
        ), day
    assert 'id="preview-skipped">1 skipped' in page
    assert 'id="preview-failed" class="">0 failed' in page
    assert 'name="reason"' in page  # finance may start the run

    db.session.expire_all()
    assert count(CustomerInvoice) == invoices_before
    assert invoice_counter() == counter_before
    assert count(AuditLog) == audit_before
    assert count(CronExecutionLog) == 0
    assert db.session.get(CustomerService, run_world["steady"].id).next_billing_date == date(
        2026, 12, 1
    )


def test_preview_flags_a_service_whose_amount_changed_by_more_than_20_percent(
    client, auth, run_world
):
    auth.login("viewer")
    page = text_of(client.get("/admin/invoice_run/", query_string={"date": "2026-11-24"}))

    assert "<strong>1</strong> changed by more than 20 %" in page
    flagged = page[page.index('id="preview-flagged"') :]
    rows = re.findall(r'data-service-id="(\d+)"', flagged)
    assert rows == [str(run_world["risen"].id)]
    assert "R 799.00" in flagged and "R 999.00" in flagged and "+25.0 %" in flagged
    assert "1 Dec – 31 Dec 2026" in flagged
    # Two invoices had a previous period; the day-25 and day-30 services had none.
    assert "2 invoices compared" in page and "(2 without one" in page
    assert 'name="reason"' not in page  # a viewer may look, not start


def test_viewer_and_support_cannot_start_a_run(client, auth, run_world):
    for role in ("viewer", "support"):
        auth.login(role)
        response = client.post(
            "/admin/invoice_run/start", data={"date": "2026-11-24", "reason": "month end"}
        )
        assert response.status_code == 403, role
        auth.logout()
    assert count(CronExecutionLog) == 0
    requests = select(func.count(AuditLog.id)).where(AuditLog.action == "request_invoice_run")
    assert db.session.scalar(requests) == 0


def test_starting_a_run_needs_a_reason(client, auth, run_world):
    auth.login("finance")
    response = client.post("/admin/invoice_run/start", data={"date": "2026-11-24", "reason": " "})
    assert response.status_code == 200
    assert "A reason is required." in text_of(response)
    bad_date = client.post("/admin/invoice_run/start", data={"date": "24/11", "reason": "x"})
    assert "Not a valid date value." in text_of(bad_date)
    assert count(CronExecutionLog) == 0
    assert count(CustomerInvoice) == 2  # only the previous periods


def test_started_run_is_performed_after_commit_and_its_progress_shown(client, auth, run_world):
    user = auth.login("finance")

    response = client.post(
        "/admin/invoice_run/start",
        data={"date": "2026-11-24", "reason": "Month-end run after the price review"},
    )

    # Without REDIS_URL the in-process runner ran the job and its chunks after the commit.
    assert response.status_code == 302
    assert "/admin/invoice_run/requests/" in response.headers["Location"]
    request_entry = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "request_invoice_run")
    ).one()
    assert request_entry.actor == user.email
    assert request_entry.reason == "Month-end run after the price review"
    run = db.session.scalars(select(CronExecutionLog)).one()
    assert (run.job_name, run.status, run.trigger_source, run.triggered_by) == (
        "invoice_run",
        "completed",
        "manual",
        user.email,
    )
    assert (run.records_processed, run.records_skipped, run.records_failed) == (4, 1, 0)
    assert run.chunks_done == run.chunks_total == 1
    assert count(CustomerInvoice) == 2 + 4
    assert invoice_counter() == 6

    redirect = client.get(response.headers["Location"])
    assert redirect.status_code == 302
    assert redirect.headers["Location"].endswith(f"/admin/invoice_run/runs/{run.id}")
    progress = text_of(client.get(redirect.headers["Location"]))
    assert 'id="run-status">completed<' in progress
    assert "Chunks done: 1/1" in progress
    assert re.search(r"Invoices issued</th><td[^>]*>4<", progress)
    assert re.search(r"Services skipped</th><td[^>]*>1<", progress)
    assert f"/admin/job_runs/details/?id={run.id}" in progress
    assert 'http-equiv="refresh"' not in progress  # finished: no more reloading
    assert client.get(f"/admin/job_runs/details/?id={run.id}").status_code == 200
    invoices_of_the_day = "/admin/invoices/?flt0_invoice_date_equals=2026-11-24"
    assert invoices_of_the_day in progress
    listed = text_of(client.get(invoices_of_the_day))
    assert "INV-2026-00006" in listed and "INV-2026-00001" not in listed  # not the October ones


@pytest.fixture
def protected_client(app):
    """A client of a second app on the same database with CSRF enforced, as in production."""
    protected_app = create_app(make_test_config(PG_DATABASE_URL, WTF_CSRF_ENABLED=True))
    yield protected_app.test_client()
    with protected_app.app_context():
        db.engine.dispose()


def test_starting_a_run_needs_the_pages_csrf_token(
    protected_client, make_staff, run_world, csrf_token_of
):
    staff = make_staff("finance")
    login_page = protected_client.get("/admin/login")
    protected_client.post(
        "/admin/login",
        data={
            "email": staff.email,
            "password": TEST_PASSWORD,
            "csrf_token": csrf_token_of(login_page),
        },
    )
    preview = protected_client.get("/admin/invoice_run/", query_string={"date": "2026-11-24"})
    form = {"date": "2026-11-24", "reason": "Month end"}

    refused = protected_client.post("/admin/invoice_run/start", data=form)
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', preview.data).group(1)
    started = protected_client.post(
        "/admin/invoice_run/start", data={**form, "csrf_token": token.decode()}
    )

    assert refused.status_code == 400
    assert started.status_code == 302
    assert count(CronExecutionLog) == 1


def test_progress_page_of_a_running_run_reloads_itself(client, auth):
    run = CronExecutionLog(
        job_name="invoice_run",
        business_date=RUN_DATE,
        execution_start=clock.now(),
        status="running",
        chunks_total=4,
        chunks_done=1,
        records_processed=120,
    )
    db.session.add(run)
    db.session.commit()
    auth.login("viewer")
    page = text_of(client.get(f"/admin/invoice_run/runs/{run.id}"))
    assert '<meta http-equiv="refresh" content="3">' in page
    assert "Chunks done: 1/4" in page and "25 %" in page
    assert '<meta name="csrf-token"' in page


def test_a_requested_run_waits_for_a_worker_until_its_row_exists(client, auth):
    user = auth.login("finance")
    entry = AuditLog(
        staff_user_id=user.id,
        actor=user.email,
        entity_type="cron_execution_log",
        action="request_invoice_run",
        reason="Month end",
        after={"job": "invoice_run", "business_date": "2026-11-24", "queue": "billing"},
    )
    db.session.add(entry)
    db.session.commit()

    page = text_of(client.get(f"/admin/invoice_run/requests/{entry.id}"))
    assert 'id="run-waiting"' in page and 'http-equiv="refresh"' in page

    db.session.add(
        CronExecutionLog(
            job_name="invoice_run",
            business_date=RUN_DATE,
            execution_start=clock.now(),
            status="running",
            trigger_source="manual",
            triggered_by=user.email,
        )
    )
    db.session.commit()
    assert client.get(f"/admin/invoice_run/requests/{entry.id}").status_code == 302


# --- Generate invoices now ------------------------------------------------------------------


def test_generate_invoices_now_asks_a_reason_and_reports_each_service(client, auth, add_service):
    due = add_service(price="799.00", next_billing_date=date(2026, 12, 1))
    not_due = add_service(price="599.00", billing_date=5, next_billing_date=date(2026, 12, 5))
    auth.login("finance")

    listing = text_of(client.get("/admin/services/"))
    assert "Generate invoices now" in listing
    chosen = client.post(
        "/admin/services/action/",
        data={"action": "generate_invoices", "rowid": [str(due.id), str(not_due.id)]},
    )
    assert chosen.status_code == 302
    form_url = chosen.headers["Location"]
    assert "/admin/services/generate-invoices/" in form_url
    assert "Fibre 100" in text_of(client.get(form_url))

    without_reason = client.post(form_url, data={"reason": ""})
    assert "A reason is required." in text_of(without_reason)
    assert count(CustomerInvoice) == 0

    done = text_of(client.post(form_url, data={"reason": "Customer asked for early invoice"}))

    results = done[done.index('id="generation-results"') :]
    due_row = re.search(rf'data-service-id="{due.id}">(.*?)</tr>', results, re.S).group(1)
    assert "invoiced" in due_row
    assert "INV-2026-00001: 1 Dec – 31 Dec 2026, R 799.00" in due_row
    not_due_row = re.search(rf'data-service-id="{not_due.id}">(.*?)</tr>', results, re.S).group(1)
    assert "nothing due" in not_due_row and "2026-12-05" in not_due_row
    assert count(CustomerInvoice) == 1
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "generate_invoices")).one()
    assert audit.reason == "Customer asked for early invoice"


def test_generate_invoices_now_needs_billing_manage(client, auth, add_service):
    service = add_service()
    auth.login("support")
    assert "Generate invoices now" not in text_of(client.get("/admin/services/"))
    client.post(
        "/admin/services/action/", data={"action": "generate_invoices", "rowid": [str(service.id)]}
    )
    url = f"/admin/services/generate-invoices/?ids={service.id}"
    assert client.get(url).status_code == 403
    assert client.post(url, data={"reason": "trying"}).status_code == 403
    assert count(CustomerInvoice) == 0


# --- Invoice actions ------------------------------------------------------------------------


def payment_key(page: str) -> str:
    return re.search(r'name="idempotency_key"[^>]*value="([^"]+)"', page).group(1)


def test_a_double_submitted_payment_is_recorded_once_and_allocated(client, auth, issued_invoice):
    auth.login("support")
    url = f"/admin/invoices/{issued_invoice.id}/payment"
    form_page = text_of(client.get(url))
    assert 'value="799.00"' in form_page  # the amount due is offered
    form = {
        "amount": "799.00",
        "method": "eft",
        "payment_date": "2026-11-24",
        "reference": "FNB 0042",
        "reason": "EFT on statement",
        "idempotency_key": payment_key(form_page),
    }

    first = client.post(url, data=form)
    second = client.post(url, data=form)

    assert first.status_code == second.status_code == 302
    payment = db.session.scalars(select(PaymentTransaction)).one()
    assert payment.amount == money("799.00") and payment.provider_reference == "FNB 0042"
    db.session.refresh(issued_invoice)
    assert issued_invoice.status == "paid"
    details = text_of(client.get(first.headers["Location"]))
    assert "already recorded" in details
    allocations = details[details.index('id="allocations"') :]
    assert payment.transaction_id in allocations and "R 799.00" in allocations


def test_a_refused_payment_shows_the_error_and_records_nothing(client, auth, issued_invoice):
    auth.login("finance")
    url = f"/admin/invoices/{issued_invoice.id}/payment"
    key = payment_key(text_of(client.get(url)))
    base = {"method": "eft", "payment_date": "2026-11-24", "idempotency_key": key}

    no_reason = text_of(client.post(url, data={**base, "amount": "100.00", "reason": ""}))
    sub_cent = text_of(client.post(url, data={**base, "amount": "10.005", "reason": "EFT"}))
    zero = text_of(client.post(url, data={**base, "amount": "0", "reason": "EFT"}))

    assert "A reason is required." in no_reason
    assert "positive rand amount in cents" in sub_cent
    assert "positive rand amount in cents" in zero
    assert count(PaymentTransaction) == 0


def test_recording_a_payment_needs_payments_record(client, auth, issued_invoice):
    auth.login("viewer")
    url = f"/admin/invoices/{issued_invoice.id}/payment"
    assert client.get(url).status_code == 403
    form = {"amount": "10.00", "method": "eft", "reason": "x", "idempotency_key": "k-1"}
    assert client.post(url, data={**form, "payment_date": "2026-11-24"}).status_code == 403
    assert count(PaymentTransaction) == 0


def test_credit_note_form_shows_what_is_creditable_and_refuses_more(client, auth, issued_invoice):
    auth.login("finance")
    url = f"/admin/invoices/{issued_invoice.id}/credit-note"
    assert "Still creditable: R 799.00" in text_of(client.get(url))

    too_much = text_of(client.post(url, data={"amount": "900.00", "reason": "Outage"}))
    no_reason = text_of(client.post(url, data={"amount": "100.00", "reason": ""}))
    assert "At most R799.00 of this invoice can still be credited." in too_much
    assert "A reason is required." in no_reason
    assert count(CreditNote) == 0

    issued = client.post(url, data={"amount": "100.00", "reason": "Three-day outage"})

    assert issued.status_code == 302
    note = db.session.scalars(select(CreditNote)).one()
    assert (note.credit_note_number, note.total_amount) == ("CN-2026-00001", money("100.00"))
    details = text_of(client.get(issued.headers["Location"]))
    assert "Credit note CN-2026-00001 for R 100.00 issued" in details
    assert "CN-2026-00001" in details[details.index('id="allocations"') :]


def test_cancelling_an_invoice_needs_confirmation_and_a_reason(client, auth, issued_invoice):
    auth.login("finance")
    url = f"/admin/invoices/{issued_invoice.id}/cancel"
    assert "A credit note for R 799.00 will be issued" in text_of(client.get(url))

    unconfirmed = text_of(client.post(url, data={"reason": "Duplicate"}))
    unreasoned = text_of(client.post(url, data={"reason": "", "confirm": "y"}))
    assert "Tick the box to confirm the cancellation." in unconfirmed
    assert "A reason is required." in unreasoned
    assert count(CreditNote) == 0

    done = client.post(url, data={"reason": "Duplicate invoice", "confirm": "y"})

    assert done.status_code == 302
    db.session.refresh(issued_invoice)
    assert issued_invoice.status == "cancelled"
    assert issued_invoice.amount_credited == money("799.00")
    again = text_of(client.post(url, data={"reason": "Once more", "confirm": "y"}))
    assert "already cancelled" in again or "already fully credited" in again
    assert count(CreditNote) == 1


@pytest.mark.parametrize("role", ["viewer", "support"])
def test_credit_notes_and_cancellation_need_billing_manage(client, auth, issued_invoice, role):
    auth.login(role)
    for action, form in [
        ("credit-note", {"amount": "10.00", "reason": "x"}),
        ("cancel", {"reason": "x", "confirm": "y"}),
    ]:
        url = f"/admin/invoices/{issued_invoice.id}/{action}"
        assert client.get(url).status_code == 403, action
        assert client.post(url, data=form).status_code == 403, action
    assert count(CreditNote) == 0
    details = text_of(client.get(f"/admin/invoices/details/?id={issued_invoice.id}"))
    assert "/credit-note" not in details and "/cancel" not in details


def test_invoice_and_credit_note_pdfs_download_with_their_numbers(
    client, auth, issued_invoice, document_dir
):
    auth.login("viewer")

    response = client.get(f"/admin/invoices/{issued_invoice.id}/pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "filename=INV-2026-00001.pdf" in response.headers["Content-Disposition"]
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.data)).pages)
    assert "INV-2026-00001" in text and "Tax Invoice" in text
    db.session.refresh(issued_invoice)
    assert issued_invoice.pdf_path == "2026/INV-2026-00001.pdf"

    auth.logout()
    auth.login("finance")
    client.post(
        f"/admin/invoices/{issued_invoice.id}/credit-note",
        data={"amount": "50.00", "reason": "Goodwill"},
    )
    note = db.session.scalars(select(CreditNote)).one()
    note_pdf = client.get(f"/admin/credit_notes/{note.id}/pdf")
    assert note_pdf.mimetype == "application/pdf"
    assert "filename=CN-2026-00001.pdf" in note_pdf.headers["Content-Disposition"]
    note_text = pypdf.PdfReader(io.BytesIO(note_pdf.data)).pages[0].extract_text()
    assert "CN-2026-00001" in note_text


def test_invoice_list_and_details_offer_the_actions_the_role_may_take(client, auth, issued_invoice):
    auth.login("finance")
    listing = text_of(client.get("/admin/invoices/"))
    for path in ("pdf", "payment", "credit-note"):
        assert f"/admin/invoices/{issued_invoice.id}/{path}" in listing, path
    details = text_of(client.get(f"/admin/invoices/details/?id={issued_invoice.id}"))
    for path in ("pdf", "payment", "credit-note", "cancel"):
        assert f"/admin/invoices/{issued_invoice.id}/{path}" in details, path
