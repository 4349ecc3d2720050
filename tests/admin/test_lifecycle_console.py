"""The service lifecycle in the console: action forms (review the money effect, then
confirm), bulk suspend/reactivate, the audit timelines and the dunning preview."""

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import NamedTuple

import pytest
from sqlalchemy import func, select

from app import clock
from app.audit import Actor, record_audit
from app.billing.calendar import Period
from app.billing.invoicing import issue_period_invoice, run_invoices
from app.extensions import db
from app.lifecycle import activate_service, suspend_service
from app.models import (
    CreditNote,
    CreditNoteNumberCounter,
    CustomerInvoice,
    CustomerService,
    DunningAction,
    InvoiceNumberCounter,
    LedgerEntry,
    Notification,
    ProviderTask,
    ServiceActionLog,
    ServiceSuspension,
    Setting,
)
from tests.conftest import TEST_PASSWORD

TODAY = date(2026, 11, 24)  # a Tuesday; services bill on the 1st at R799


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(TODAY):
        yield


@pytest.fixture(autouse=True)
def document_dir(app, tmp_path, monkeypatch):
    """PDFs rendered after a commit are stored in the test's own directory."""
    monkeypatch.setitem(app.config, "INVOICE_STORAGE_DIR", str(tmp_path / "documents"))


@pytest.fixture
def dispatched_jobs(app, monkeypatch):
    """Every job request handed over after a commit, as (job name, first argument)."""
    dispatcher = app.extensions["job_dispatcher"]
    handed_over = []
    dispatch = dispatcher.dispatch

    def remember(requests):
        requests = list(requests)
        handed_over.extend((request.name, request.args[0]) for request in requests)
        return dispatch(requests)

    monkeypatch.setattr(dispatcher, "dispatch", remember)
    return handed_over


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def counters() -> tuple[int, int]:
    return (
        db.session.scalar(select(InvoiceNumberCounter.last_number)),
        db.session.scalar(select(CreditNoteNumberCounter.last_number)),
    )


def written_rows() -> dict:
    """Everything an action could write, counted."""
    return {
        model.__name__: count(model)
        for model in (
            CustomerInvoice,
            CreditNote,
            LedgerEntry,
            ServiceActionLog,
            ServiceSuspension,
            Notification,
            ProviderTask,
        )
    } | {"counters": counters()}


def text_of(response) -> str:
    return response.get_data(as_text=True)


def fresh(service) -> CustomerService:
    db.session.expire_all()
    return db.session.get(CustomerService, service.id)


def last_action_seen(page: str) -> str:
    """The hidden value the action form carries: the newest action when it was shown."""
    tag = re.search(r'<input[^>]*name="last_action_seen"[^>]*>', page).group(0)
    return re.search(r'value="(\d*)"', tag).group(1)


def action_url(service, action: str) -> str:
    return f"/admin/services/{service.id}/{action}"


def open_form(client, service, action: str, **fields) -> dict:
    """GET the action's form and return what submitting it would send."""
    page = client.get(action_url(service, action))
    assert page.status_code == 200, text_of(page)[:500]
    return {"last_action_seen": last_action_seen(text_of(page)), **fields}


def review(client, service, action, form):
    return client.post(action_url(service, action), data={**form, "step": "review"})


def confirm(client, service, action, form):
    return client.post(action_url(service, action), data={**form, "step": "confirm"})


# --- One scenario per action: a service, the form, the money effect, the outcome ---------


def pending_service(make_service):
    return make_service(
        status="pending", next_billing_date=None, activation_date=None, connection_id="ct-0001"
    )


def service_with_december_invoiced(make_service, system_actor):
    service = make_service()  # next billing date 1 Dec: the run invoices December today
    run_invoices(TODAY, actor=system_actor)
    return fresh(service)


def service_suspended_since_november(make_service):
    """Suspended with billing paused, periods skipped since 1 Nov."""
    service = make_service(status="suspended", next_billing_date=date(2026, 11, 1))
    db.session.add(
        ServiceSuspension(
            service_id=service.id,
            customer_id=service.customer_id,
            suspension_type="customer_request",
            reason="Travelling",
            skip_billing=True,
            suspended_at=clock.now(),
        )
    )
    db.session.commit()
    return service


def service_with_november_invoiced(make_service, system_actor):
    service = make_service()
    issue_period_invoice(
        service,
        Period(date(2026, 11, 1), date(2026, 12, 1)),
        invoice_type="recurring",
        invoice_date=date(2026, 10, 25),
        actor=system_actor,
    )
    db.session.commit()
    return service


class Scenario(NamedTuple):
    build: Callable  # (make_service, actor) -> the service to act on
    fields: dict  # the action's own form fields
    effects: list[str]  # what the review shows
    status_after: str
    documented_effects: list[str]  # what the confirmation flashes, with document numbers


SCENARIOS = {
    "activate": Scenario(
        lambda make_service, actor: pending_service(make_service),
        {"activation_date": "2026-11-15"},
        ["Pro-rata invoice R426.13 for 15 Nov – 30 Nov 2026"],
        "active",
        ["Pro-rata invoice INV-2026-00001 R426.13 for 15 Nov – 30 Nov 2026"],
    ),
    "suspend": Scenario(
        service_with_december_invoiced,
        {"suspension_type": "customer_request", "skip_billing": "y"},
        ["Credit note R799.00 for 1 Dec – 31 Dec 2026"],
        "suspended",
        ["Credit note CN-2026-00001 R799.00 for 1 Dec – 31 Dec 2026"],
    ),
    "reactivate": Scenario(
        lambda make_service, actor: service_suspended_since_november(make_service),
        {},
        ["Pro-rata invoice R186.43 for 24 Nov – 30 Nov 2026"],
        "active",
        ["Pro-rata invoice INV-2026-00001 R186.43 for 24 Nov – 30 Nov 2026"],
    ),
    "cancel": Scenario(
        lambda make_service, actor: make_service(next_billing_date=date(2026, 11, 1)),
        {"cancellation_date": "2026-11-24"},
        ["Pro-rata invoice R612.57 for 1 Nov – 23 Nov 2026"],
        "cancelled",
        ["Pro-rata invoice INV-2026-00001 R612.57 for 1 Nov – 23 Nov 2026"],
    ),
    "change": Scenario(
        service_with_november_invoiced,
        {"effective_date": "2026-11-24", "monthly_price": "999.00"},
        [
            "Pro-rata invoice R233.10 for 24 Nov – 30 Nov 2026",
            "Credit note R186.43 for 24 Nov – 30 Nov 2026",
        ],
        "active",
        [
            "Pro-rata invoice INV-2026-00002 R233.10 for 24 Nov – 30 Nov 2026",
            "Credit note CN-2026-00001 R186.43 for 24 Nov – 30 Nov 2026",
        ],
    ),
}


@pytest.mark.parametrize("action", SCENARIOS)
def test_review_shows_the_money_effect_and_writes_nothing(
    client, auth, make_service, system_actor, dispatched_jobs, action
):
    scenario = SCENARIOS[action]
    service = scenario.build(make_service, system_actor)
    status_before = service.status
    auth.login("support")
    form = open_form(client, service, action, reason="Customer called", **scenario.fields)
    before = written_rows()
    dispatched_jobs.clear()

    page = text_of(review(client, service, action, form))

    money_effects = page[page.index('id="money-effects"') :]
    for line in scenario.effects:
        assert line in money_effects
    assert "Customer called" in page[page.index('id="entered-values"') :]
    assert 'value="confirm"' in page
    assert written_rows() == before
    assert fresh(service).status == status_before
    assert dispatched_jobs == []  # the rolled-back invoices asked for no PDF


@pytest.mark.parametrize("action", SCENARIOS)
def test_confirm_performs_the_action_with_numbered_documents_and_a_logged_reason(
    client, auth, make_service, system_actor, dispatched_jobs, action
):
    scenario = SCENARIOS[action]
    service = scenario.build(make_service, system_actor)
    dispatched_jobs.clear()
    auth.login("support")
    form = open_form(
        client, service, action, reason="Customer called", notes="ticket 42", **scenario.fields
    )
    review(client, service, action, form)

    response = confirm(client, service, action, form)

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/customers/{service.customer_id}/")
    flashed = text_of(client.get(response.headers["Location"]))
    for line in scenario.documented_effects:
        assert line in flashed
    assert fresh(service).status == scenario.status_after
    (log,) = db.session.scalars(
        select(ServiceActionLog).where(ServiceActionLog.action_type == action)
    ).all()
    assert (log.reason, log.notes, log.actor) == ("Customer called", "ticket 42", auth.user.email)
    new_invoices = re.findall(r"INV-\d{4}-\d{5}", " ".join(scenario.documented_effects))
    # PDFs are rendered for the committed invoices only, after the commit.
    assert [job for job in dispatched_jobs if job[0] == "render_invoice_pdf"] == [
        ("render_invoice_pdf", invoice_id)
        for invoice_id in db.session.scalars(
            select(CustomerInvoice.id).where(CustomerInvoice.invoice_number.in_(new_invoices))
        )
    ]


def test_confirmed_suspension_records_its_type_and_billing_pause(client, auth, make_service):
    service = make_service()
    auth.login("support")
    form = open_form(
        client, service, "suspend", suspension_type="technical", reason="Line fault"
    )  # skip billing left unticked

    assert confirm(client, service, "suspend", form).status_code == 302

    suspension = db.session.scalars(select(ServiceSuspension)).one()
    assert (suspension.suspension_type, suspension.skip_billing, suspension.reason) == (
        "technical",
        False,
        "Line fault",
    )
    assert suspension.suspended_by_id == auth.user.id


def test_the_action_form_defaults_dates_to_today_and_skip_billing_on(client, auth, make_service):
    auth.login("support")
    activate_page = text_of(client.get(action_url(pending_service(make_service), "activate")))
    suspend_page = text_of(client.get(action_url(make_service(), "suspend")))

    activation_date = re.search(r'<input[^>]*name="activation_date"[^>]*>', activate_page)
    assert 'value="2026-11-24"' in activation_date.group(0)
    skip_billing = re.search(r'<input[^>]*name="skip_billing"[^>]*>', suspend_page).group(0)
    assert "checked" in skip_billing
    for kind in ("non_payment", "customer_request", "technical", "fraud"):
        assert f'value="{kind}"' in suspend_page


@pytest.mark.parametrize("step", ["review", "confirm"])
def test_a_reason_is_required(client, auth, make_service, step):
    service = make_service()
    auth.login("support")
    form = open_form(client, service, "suspend", suspension_type="technical", reason="  ")
    before = written_rows()

    response = client.post(action_url(service, "suspend"), data={**form, "step": step})

    assert response.status_code == 200
    assert "A reason is required." in text_of(response)
    assert 'id="money-effects"' not in text_of(response)
    assert written_rows() == before
    assert fresh(service).status == "active"


def test_a_refused_input_shows_on_its_field_and_writes_nothing(client, auth, make_service):
    service = pending_service(make_service)
    auth.login("support")
    form = open_form(client, service, "activate", activation_date="2026-11-30", reason="Early")
    before = written_rows()

    for step in ("review", "confirm"):
        page = text_of(client.post(action_url(service, "activate"), data={**form, "step": step}))
        field = page[page.index('name="activation_date"') :]
        assert "The date cannot be in the future." in field[:1500]
        assert written_rows() == before


def test_a_change_needs_something_to_change(client, auth, make_service):
    service = make_service()
    auth.login("support")
    form = open_form(client, service, "change", effective_date="2026-11-24", reason="Upgrade")

    page = text_of(review(client, service, "change", form))

    assert "Nothing to change." in page
    assert 'id="money-effects"' not in page


def test_review_of_a_billing_day_change_credits_and_bridges_to_the_new_day(
    client, auth, make_service, system_actor
):
    """Change of billing day: credit the invoiced days from e, bridge to the new day."""
    service = service_with_november_invoiced(make_service, system_actor)
    auth.login("support")
    form = open_form(
        client, service, "change", effective_date="2026-11-24", billing_date="25", reason="Payday"
    )

    page = text_of(review(client, service, "change", form))

    effects = page[page.index('id="money-effects"') :]
    assert "Credit note R186.43 for 24 Nov – 30 Nov 2026" in effects
    # One day, 24 Nov, of the new day-25 period 25 Oct – 24 Nov (31 days): 799 / 31.
    assert "Pro-rata invoice R25.77 for 24 Nov – 24 Nov 2026" in effects
    entered = page[page.index('id="entered-values"') :]
    assert re.search(r"New billing day</dt><dd[^>]*>25<", entered)
    assert fresh(service).billing_date == 1


def test_a_double_submitted_confirmation_acts_once(client, auth, make_service, system_actor):
    service = service_with_december_invoiced(make_service, system_actor)
    auth.login("support")
    form = open_form(
        client,
        service,
        "suspend",
        suspension_type="technical",
        skip_billing="y",
        reason="Line fault",
    )

    first = confirm(client, service, "suspend", form)
    second = confirm(client, service, "suspend", form)

    assert first.status_code == 302
    assert second.status_code == 200
    assert "Cannot suspend a service that is suspended (only from active)." in text_of(second)
    assert count(ServiceSuspension) == 1
    assert count(CreditNote) == 1
    assert count(ServiceActionLog) == 1


def test_a_repeated_change_is_refused_as_reviewed_before_the_first(
    client, auth, make_service, system_actor
):
    service = service_with_november_invoiced(make_service, system_actor)
    auth.login("support")
    form = open_form(
        client,
        service,
        "change",
        effective_date="2026-11-24",
        package_name="Fibre 200",
        monthly_price="999.00",
        reason="Upgrade",
    )

    assert confirm(client, service, "change", form).status_code == 302
    again = confirm(client, service, "change", form)

    assert "This service was changed after the action was reviewed" in text_of(again)
    assert count(ServiceActionLog) == 1
    assert count(CreditNote) == 1
    assert fresh(service).package_name == "Fibre 200"
    # The form now carries the newest action, so a deliberate second review starts afresh.
    assert last_action_seen(text_of(again)) == str(db.session.scalar(select(ServiceActionLog.id)))


def test_an_action_reviewed_before_a_colleagues_action_is_refused(
    client, auth, make_service, system_actor
):
    service = make_service()
    auth.login("support")
    form = open_form(
        client, service, "change", effective_date="2026-11-24", package_name="X", reason="Y"
    )
    change_by_colleague = suspend_service(
        service, actor=system_actor, reason="Line fault", suspension_type="technical"
    )
    db.session.commit()
    assert change_by_colleague.service.status == "suspended"

    page = text_of(confirm(client, service, "change", form))

    assert "changed after the action was reviewed" in page
    assert fresh(service).package_name == "Fibre 100"


# --- Who may act, and where actions are offered -----------------------------------------------

PERMISSION_MATRIX = [
    ("viewer", "activate", 403),
    ("viewer", "suspend", 403),
    ("viewer", "reactivate", 403),
    ("viewer", "cancel", 403),
    ("viewer", "change", 403),
    ("finance", "suspend", 403),
    ("finance", "activate", 403),
    ("finance", "cancel", 403),
    ("support", "suspend", 200),
    ("support", "activate", 200),
    ("support", "reactivate", 200),
    ("support", "cancel", 200),
    ("support", "change", 200),
    ("admin", "change", 200),
]


@pytest.mark.parametrize(("role", "action", "status"), PERMISSION_MATRIX)
def test_each_action_needs_its_permission(client, auth, make_service, role, action, status):
    service = make_service()
    auth.login(role)
    before = written_rows()

    shown = client.get(action_url(service, action))
    posted = client.post(
        action_url(service, action),
        data={"step": "confirm", "reason": "trying", "suspension_type": "technical"},
    )

    assert shown.status_code == status
    if status == 403:
        assert posted.status_code == 403
        assert written_rows() == before


def test_an_unknown_action_or_service_is_not_found(client, auth, make_service):
    service = make_service()
    auth.login("admin")
    assert client.get(action_url(service, "delete")).status_code == 404
    assert client.get("/admin/services/999999/suspend").status_code == 404


@pytest.fixture
def one_service_per_status(make_service, make_customer):
    customer = make_customer()
    return {
        status: make_service(customer, status=status, package_name=f"Fibre {status}")
        for status in ("pending", "active", "suspended", "cancelled")
    }


def offered_in(page: str, services: dict) -> dict:
    """{status: set of action names linked for that status's service}."""
    return {
        status: {
            action for action in SCENARIOS if f'href="/admin/services/{service.id}/{action}' in page
        }
        for status, service in services.items()
    }


def test_row_actions_are_offered_only_where_the_state_allows_them(
    client, auth, one_service_per_status
):
    auth.login("support")

    page = text_of(client.get("/admin/services/"))

    assert offered_in(page, one_service_per_status) == {
        "pending": {"activate", "cancel"},
        "active": {"suspend", "cancel", "change"},
        "suspended": {"reactivate", "cancel", "change"},
        "cancelled": set(),
    }
    for service in one_service_per_status.values():
        assert f'href="/admin/services/{service.id}/timeline"' in page


def test_customer_page_and_service_details_offer_the_same_actions(
    client, auth, one_service_per_status
):
    auth.login("support")
    customer_id = one_service_per_status["active"].customer_id

    customer_page = text_of(client.get(f"/admin/customers/{customer_id}/"))
    active_details = text_of(
        client.get(f"/admin/services/details/?id={one_service_per_status['active'].id}")
    )

    assert offered_in(customer_page, one_service_per_status)["suspended"] == {
        "reactivate",
        "cancel",
        "change",
    }
    assert offered_in(customer_page, one_service_per_status)["cancelled"] == set()
    assert offered_in(active_details, one_service_per_status)["active"] == {
        "suspend",
        "cancel",
        "change",
    }


def test_finance_and_viewers_are_offered_no_lifecycle_action(client, auth, one_service_per_status):
    for role in ("finance", "viewer"):
        auth.login(role)
        page = text_of(client.get("/admin/services/"))
        assert offered_in(page, one_service_per_status) == {
            status: set() for status in one_service_per_status
        }
        assert 'value="suspend"' not in page  # nor the bulk action
        auth.logout()


# --- Bulk suspend and reactivate -------------------------------------------------------------


def start_bulk(client, action: str, services) -> str:
    """Select rows on the list and pick the bulk action; returns the reason page's URL."""
    response = client.post(
        "/admin/services/action/",
        data={"action": action, "rowid": [str(service.id) for service in services]},
    )
    assert response.status_code == 302
    return response.headers["Location"]


def outcome_rows(page: str) -> dict[int, str]:
    results = page[page.index('id="bulk-results"') :]
    return {
        int(service_id): outcome
        for service_id, outcome in re.findall(
            r'data-service-id="(\d+)" data-outcome="(\w+)"', results
        )
    }


def test_bulk_suspend_reports_each_service_and_suspends_each_eligible_one_once(
    client, auth, make_service, system_actor
):
    invoiced = service_with_december_invoiced(make_service, system_actor)
    plain = make_service(next_billing_date=date(2026, 12, 1))
    already = service_suspended_since_november(make_service)
    auth.login("support")

    reason_page = start_bulk(client, "suspend", [invoiced, plain, already])
    shown = text_of(client.get(reason_page))
    response = client.post(
        reason_page,
        data={
            "reason": "Fibre cut in the area",
            "suspension_type": "technical",
            "skip_billing": "y",
        },
    )

    assert "Fibre 100" in shown and "suspension_type" in shown
    page = text_of(response)
    assert outcome_rows(page) == {
        invoiced.id: "done",
        plain.id: "done",
        already.id: "refused",
    }
    assert "Cannot suspend a service that is suspended (only from active)." in page
    assert "Credit note CN-2026-00001 R799.00 for 1 Dec – 31 Dec 2026" in page
    assert "2 of 3 selected service(s) suspended; 1 refused." in page
    new_suspensions = db.session.scalars(
        select(ServiceSuspension.service_id).where(
            ServiceSuspension.reason == "Fibre cut in the area"
        )
    ).all()
    assert sorted(new_suspensions) == sorted([invoiced.id, plain.id])
    assert {fresh(s).status for s in (invoiced, plain, already)} == {"suspended"}
    logs = db.session.scalars(select(ServiceActionLog)).all()
    assert sorted(log.service_id for log in logs) == sorted([invoiced.id, plain.id])
    assert {log.actor for log in logs} == {auth.user.email}

    # Sent again (a reload): every service is refused, nothing more is written.
    again = text_of(
        client.post(
            reason_page, data={"reason": "Fibre cut in the area", "suspension_type": "technical"}
        )
    )
    assert set(outcome_rows(again).values()) == {"refused"}
    assert count(ServiceSuspension) == 3


def test_bulk_reactivate_reactivates_each_suspended_service(client, auth, make_service):
    first = service_suspended_since_november(make_service)
    second = service_suspended_since_november(make_service)
    active = make_service()
    auth.login("support")

    reason_page = start_bulk(client, "reactivate", [first, second, active])
    page = text_of(client.post(reason_page, data={"reason": "Outage over"}))

    assert outcome_rows(page) == {first.id: "done", second.id: "done", active.id: "refused"}
    assert "Pro-rata invoice INV-2026-00001 R186.43 for 24 Nov – 30 Nov 2026" in page
    assert "Pro-rata invoice INV-2026-00002 R186.43 for 24 Nov – 30 Nov 2026" in page
    assert fresh(first).status == fresh(second).status == "active"
    assert count(ServiceSuspension) == 2
    assert (
        db.session.scalar(select(func.count()).where(ServiceSuspension.reactivated_at.is_(None)))
        == 0
    )


def test_bulk_pages_need_a_reason_and_their_permission(client, auth, make_service):
    service = make_service()
    auth.login("support")
    reason_page = start_bulk(client, "suspend", [service])

    refused = text_of(client.post(reason_page, data={"reason": "", "suspension_type": "other"}))

    assert "A reason is required." in refused
    assert fresh(service).status == "active"
    auth.logout()
    auth.login("finance")
    assert client.get(reason_page).status_code == 403
    assert client.post(reason_page, data={"reason": "x"}).status_code == 403
    assert client.get(f"/admin/services/bulk/reactivate?ids={service.id}").status_code == 403
    assert fresh(service).status == "active"


# --- Audit timelines ---------------------------------------------------------------------------


@pytest.fixture
def history(make_service, make_staff, system_actor):
    """A service created at 09:00 SAST, activated by a support agent at 10:00 and suspended
    by the system at 11:30, with a reason a spreadsheet would run as a formula."""
    service = pending_service(make_service)
    agent = make_staff("support", email="thandi.agent@staff.isp-console.co.za")
    with clock.frozen_at(datetime(2026, 11, 24, 8, 0, tzinfo=UTC)):  # 10:00 SAST
        activate_service(
            service, actor=Actor.for_staff(agent), reason="Installed", activation_date=TODAY
        )
        db.session.commit()
    with clock.frozen_at(datetime(2026, 11, 24, 9, 30, tzinfo=UTC)):  # 11:30 SAST
        suspend_service(
            service,
            actor=system_actor,
            reason="=1+2",
            suspension_type="technical",
            notes="@SUM(A1)",
        )
        db.session.commit()
    return service


def timeline_rows(page: str) -> list[str]:
    table = page[page.index('id="audit-timeline"') :]
    return re.findall(r'<tr data-action="(\w+)">', table)


def test_service_timeline_shows_who_when_why_and_the_diff(client, auth, history):
    auth.login("viewer")

    page = text_of(client.get(f"/admin/services/{history.id}/timeline"))

    assert timeline_rows(page) == ["suspend", "activate"]
    table = page[page.index('id="audit-timeline"') :]
    assert "thandi.agent@staff.isp-console.co.za" in table and "pytest" in table
    assert "2026-11-24 11:30 SAST" in table and "2026-11-24 10:00 SAST" in table
    assert "=1+2" in table and "Notes: @SUM(A1)" in table
    assert "<code>status</code>: active &rarr; suspended" in table
    assert "<code>status</code>: pending &rarr; active" in table
    assert "<code>monthly_price</code>" not in table  # unchanged fields are not listed


def test_service_timeline_filters_by_action_and_actor(client, auth, history):
    auth.login("viewer")
    url = f"/admin/services/{history.id}/timeline"

    by_action = text_of(client.get(url, query_string={"action": "activate"}))
    by_actor = text_of(client.get(url, query_string={"actor": "THANDI.agent"}))
    by_dates = text_of(client.get(url, query_string={"since": "2026-11-25"}))

    assert timeline_rows(by_action) == ["activate"]
    assert timeline_rows(by_actor) == ["activate"]
    assert timeline_rows(by_dates) == []
    assert "1 entry" in by_action


def test_service_timeline_csv_escapes_formula_text_and_keeps_the_filter(client, auth, history):
    auth.login("viewer")
    page = text_of(client.get(f"/admin/services/{history.id}/timeline?action=suspend"))
    export_url = re.search(r'id="timeline-export" href="([^"]+)"', page).group(1)

    response = client.get(export_url.replace("&amp;", "&"))

    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(text_of(response))))
    assert rows[0] == ["When (SAST)", "Who", "Action", "Subject", "Reason", "Notes", "Changes"]
    (suspension,) = rows[1:]
    assert suspension[0] == "2026-11-24T11:30:00+02:00"
    assert suspension[1:5] == ["pytest", "suspend", f"service #{history.id}", "'=1+2"]
    assert suspension[5] == "'@SUM(A1)"
    assert "status: active → suspended" in suspension[6]


def test_timelines_need_audit_view(client, auth, history, monkeypatch):
    from app import auth as permissions

    monkeypatch.setitem(permissions.ROLE_PERMISSIONS, "viewer", frozenset({"customers:view"}))
    auth.login("viewer")
    assert client.get(f"/admin/services/{history.id}/timeline").status_code == 403
    assert client.get(f"/admin/services/{history.id}/timeline.csv").status_code == 403
    customer_id = history.customer_id
    assert client.get(f"/admin/customers/{customer_id}/timeline").status_code == 403
    assert client.get(f"/admin/customers/{customer_id}/timeline.csv").status_code == 403


def test_customer_timeline_merges_account_and_service_entries_and_filters(client, auth, history):
    auth.login("viewer")
    url = f"/admin/customers/{history.customer_id}/timeline"

    everything = text_of(client.get(url))
    suspensions = text_of(client.get(url, query_string={"action": "suspend"}))
    by_system = text_of(client.get(url, query_string={"actor": "pytest"}))
    export = text_of(client.get(f"{url}.csv", query_string={"action": "suspend"}))

    assert timeline_rows(everything) == ["suspend", "activate", "create"]
    assert f'href="/admin/services/{history.id}/timeline"' in everything
    assert timeline_rows(suspensions) == ["suspend"]
    assert timeline_rows(by_system) == ["suspend", "create"]
    assert [row[2] for row in csv.reader(io.StringIO(export))][1:] == ["suspend"]
    customer_page = text_of(client.get(f"/admin/customers/{history.customer_id}/"))
    assert f'href="{url}"' in customer_page


def test_customer_timeline_pages_through_long_histories(client, auth, make_customer, system_actor):
    customer = make_customer()
    for number in range(60):
        record_audit(
            actor=system_actor,
            entity=customer,
            action="update",
            reason=f"edit {number}",
            before={"notes": str(number)},
            after={"notes": str(number + 1)},
            customer_id=customer.id,
        )
    db.session.commit()
    auth.login("viewer")
    url = f"/admin/customers/{customer.id}/timeline"

    first = text_of(client.get(url))
    second = text_of(client.get(url, query_string={"page": 1}))

    assert len(timeline_rows(first)) == 50
    assert len(timeline_rows(second)) == 11  # the other ten edits and the creation
    assert "61 entries · page 1 of 2" in first
    assert "page=1" in first[first.index('id="timeline-pages"') :]


def test_an_invalid_filter_date_is_shown_and_filters_nothing(client, auth, history):
    auth.login("viewer")
    page = text_of(
        client.get(f"/admin/services/{history.id}/timeline", query_string={"since": "soon"})
    )
    assert "Not a valid date value." in page
    assert timeline_rows(page) == ["suspend", "activate"]


# --- Dunning preview -----------------------------------------------------------------------


@pytest.fixture
def overdue_world(make_service, make_customer, system_actor):
    """Two customers, Naledi and Sipho, whose November invoice (due 1 Nov) is unpaid."""
    services = []
    for name in ("Naledi", "Sipho"):
        service = make_service(make_customer(first_name=name), next_billing_date=date(2026, 12, 1))
        issue_period_invoice(
            service,
            Period(date(2026, 11, 1), date(2026, 12, 1)),
            invoice_type="recurring",
            invoice_date=date(2026, 10, 25),
            actor=system_actor,
        )
        services.append(service)
    db.session.commit()
    return services


def test_dunning_preview_lists_what_the_next_run_would_do_and_writes_nothing(
    client, auth, overdue_world
):
    naledi_service, _ = overdue_world
    invoice = db.session.scalars(
        select(CustomerInvoice).where(CustomerInvoice.service_id == naledi_service.id)
    ).one()
    auth.login("viewer")
    before = written_rows() | {"dunning": count(DunningAction)}

    page = text_of(client.get("/admin/dunning_preview/"))  # tomorrow: 25 Nov

    assert "The run of 2026-11-25 would take" in page
    overdue = page[page.index('id="preview-newly-overdue"') : page.index('id="preview-reminders"')]
    assert invoice.invoice_number in overdue and "R 799.00" in overdue
    assert naledi_service.customer.account_number in overdue
    notices = page[page.index('id="preview-overdue-notices"') :]
    assert invoice.invoice_number in notices[: notices.index('id="preview-suspensions"')]
    suspensions = page[page.index('id="preview-suspensions"') :]
    assert f'data-service-id="{naledi_service.id}"' in suspensions
    assert "Naledi" in suspensions
    assert written_rows() | {"dunning": count(DunningAction)} == before
    db.session.expire_all()
    assert db.session.get(CustomerInvoice, invoice.id).status == "unpaid"
    assert {fresh(service).status for service in overdue_world} == {"active"}


def test_dunning_preview_shows_customers_held_back_by_the_cap(client, auth, overdue_world):
    db.session.add(
        Setting(key="auto_suspension_max_per_run", value="1", effective_from=date(2026, 1, 1))
    )
    db.session.commit()
    auth.login("finance")

    page = text_of(client.get("/admin/dunning_preview/", query_string={"date": "2026-11-25"}))

    held_back = page[page.index('id="preview-held-back"') :]
    assert "Sipho" in held_back
    assert "beyond the cap of 1 per run" in page
    assert page.count('data-service-id="') == 1  # only the first customer is suspended
    assert count(ServiceSuspension) == 0


def test_dunning_preview_warns_that_a_weekend_run_suspends_nobody(client, auth, overdue_world):
    auth.login("viewer")

    page = text_of(client.get("/admin/dunning_preview/", query_string={"date": "2026-11-28"}))

    assert "No automatic suspensions on 2026-11-28: not a business day." in page
    assert "No service would be suspended." in page
    assert clock.today() == TODAY  # the preview pinned the clock for itself only


def test_dunning_preview_refuses_a_bad_date_and_anonymous_users(client, auth):
    assert client.get("/admin/dunning_preview/").status_code == 302
    auth.login("viewer")
    page = text_of(client.get("/admin/dunning_preview/", query_string={"date": "tomorrow"}))
    assert "Not a valid date value." in page
    assert "would take" not in page


# --- With CSRF protection on, as in production ------------------------------------------


@pytest.fixture
def csrf_client(app, client, monkeypatch):
    """The client with CSRF protection enforced (Flask-WTF reads the flag per request)."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    return client


def test_the_review_page_carries_the_token_the_confirmation_needs(
    csrf_client, make_service, make_staff, csrf_token_of
):
    service = make_service()
    staff = make_staff("support")
    login_page = csrf_client.get("/admin/login")
    csrf_client.post(
        "/admin/login",
        data={
            "email": staff.email,
            "password": TEST_PASSWORD,
            "csrf_token": csrf_token_of(login_page),
        },
    )
    url = action_url(service, "suspend")
    form_page = csrf_client.get(url)
    form = {
        "last_action_seen": last_action_seen(text_of(form_page)),
        "suspension_type": "technical",
        "reason": "Line fault",
    }

    without_token = csrf_client.post(url, data={**form, "step": "review"})
    reviewed = csrf_client.post(
        url, data={**form, "step": "review", "csrf_token": csrf_token_of(form_page)}
    )
    confirm_form = text_of(reviewed)[text_of(reviewed).index('id="confirm-form"') :]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', confirm_form)
    confirmed = csrf_client.post(
        url, data={**form, "step": "confirm", "csrf_token": token.group(1)}
    )

    assert without_token.status_code == 400
    assert reviewed.status_code == 200
    assert confirmed.status_code == 302
    assert fresh(service).status == "suspended"
