"""The NetCash sandbox as a provider: its pages, its postbacks, its state and its manners.

Postbacks go to a small receiving server of this module, so what NetCash would POST to the
app is checked field by field, whatever the app's webhook routes do with it.
"""

import threading
from datetime import date, time, timedelta
from decimal import Decimal

import httpx
import pytest
from werkzeug.wrappers import Request, Response

from app import clock
from app.integrations.http import ProviderError
from app.integrations.netcash import (
    DebitLine,
    NetcashClient,
    parse_paynow_notify,
    paynow_form,
)
from app.integrations.sandbox import SANDBOX_CREDENTIALS, SandboxContext, _ServerThread
from app.integrations.sandbox.netcash import NetcashSandbox, first_action_date
from tests.integrations.test_netcash_client import (
    FIRST_TWODAY,
    TODAY,
    batch_file,
    debit,
    load_report,
    mandate_request,
    statement,
    uploaded_and_authorised,
)

SECRET = SANDBOX_CREDENTIALS["NETCASH_WEBHOOK_SECRET"]


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(TODAY):
        yield


class Receiver:
    """Plays the app's webhook endpoint: records every POST and answers `status`."""

    def __init__(self):
        self.posts: list[dict] = []
        self.status = 200
        self._server = _ServerThread(self)
        self.base_url = self._server.base_url

    def __call__(self, environ, start_response):
        incoming = Request(environ)
        self.posts.append(
            {
                "path": incoming.path,
                "key": incoming.args.get("key"),
                "content_type": incoming.mimetype,
                "form": incoming.form.to_dict(),
            }
        )
        return Response("ok", status=self.status)(environ, start_response)

    def stop(self):
        self._server.stop()


@pytest.fixture(scope="module")
def module_receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def receiver(module_receiver):
    module_receiver.posts.clear()
    module_receiver.status = 200
    return module_receiver


def start(receiver, state_dir=None):
    """A NetCash sandbox of its own, posting back to the receiver."""
    sandbox = NetcashSandbox(SandboxContext(app_base_url=receiver.base_url, state_dir=state_dir))
    server = _ServerThread(sandbox.wsgi_app)
    return sandbox, server


@pytest.fixture(scope="module")
def module_sandbox(module_receiver):
    sandbox, server = start(module_receiver)
    yield sandbox, server
    server.stop()


@pytest.fixture
def own(app, receiver, module_sandbox):
    """(sandbox, client) on a freshly reset sandbox of this module posting to the receiver."""
    sandbox, server = module_sandbox
    sandbox.reset()
    settings = sandbox.config(server.base_url)
    client = NetcashClient(
        ws_url=settings["NETCASH_WS_URL"],
        debit_order_key=SANDBOX_CREDENTIALS["NETCASH_DEBIT_ORDER_SERVICE_KEY"],
        account_key=SANDBOX_CREDENTIALS["NETCASH_ACCOUNT_SERVICE_KEY"],
        http=httpx.Client(timeout=5),
    )
    saved = {key: app.config.get(key) for key in (*settings, *SANDBOX_CREDENTIALS)}
    app.config.update({**SANDBOX_CREDENTIALS, **settings})
    with client:
        yield sandbox, client
    app.config.update(saved)


# --- the mandate page and its postback -----------------------------------------------------------


def test_mandate_page_shows_the_mandate_and_signing_posts_the_postback(own, receiver):
    sandbox, client = own
    url = client.add_mandate(mandate_request()).mandate_url

    page = httpx.get(url)
    assert "CT-2026-00017" in page.text and "628*******0" in page.text
    assert "last day of the month" in page.text
    signed = httpx.post(url, data={"action": "sign"})

    assert signed.status_code == 200 and "Mandate signed" in signed.text
    assert "answered HTTP 200" in signed.text
    [post] = receiver.posts
    assert post["path"] == "/api/webhooks/netcash/emandate" and post["key"] == SECRET
    assert post["content_type"] == "application/x-www-form-urlencoded"
    form = post["form"]
    assert {name: form[name] for name in ("MandateSuccessful", "IsDeclined", "AccountRef")} == {
        "MandateSuccessful": "1",
        "IsDeclined": "0",
        "AccountRef": "CT-2026-00017",
    }
    assert form["MandateReferenceNumber"] and form["MandatePDFLink"] == url + "/pdf"
    assert (form["DebitDay"], form["AgreementDate"], form["BankName"]) == (
        "LDOM",
        "20261125",
        "FNB",
    )
    assert (form["BankAccountNo"], form["BranchCode"], form["BankAccountType"]) == (
        "628*******0",
        "250655",
        "Current",
    )
    assert (form["Field1"], form["FirstName"], form["LastName"], form["CellNo"]) == (
        "41",
        "Thandi",
        "Nkosi",
        "0825550101",
    )
    assert httpx.get(url + "/pdf").status_code == 200


def test_declining_a_mandate_posts_a_declined_postback_and_the_page_closes(own, receiver):
    sandbox, client = own
    url = client.add_mandate(mandate_request()).mandate_url

    httpx.post(url, data={"action": "decline"})

    form = receiver.posts[0]["form"]
    assert (form["MandateSuccessful"], form["IsDeclined"]) == ("0", "1")
    assert form["ReasonForDecline"]
    assert sandbox.mandates[0]["status"] == "declined"
    assert "Sign mandate" not in httpx.get(url).text
    assert httpx.post(url, data={"action": "sign"}).status_code == 409
    with pytest.raises(ValueError, match="declined, not awaiting a signature"):
        sandbox.sign_mandate(url)


def test_a_new_mandate_for_the_same_account_replaces_the_unsigned_one(own):
    sandbox, client = own
    client.add_mandate(mandate_request())
    client.add_mandate(mandate_request(mandate_amount=Decimal("2000")))

    token = client.request_mandate_data()
    client.retrieve_mandate_data(token)
    [line] = client.retrieve_mandate_data(token)

    assert [m["status"] for m in sandbox.mandates] == ["expired", "pending"]
    assert line.amount == Decimal("2000.00")


def test_a_postback_the_app_could_not_take_is_recorded_and_can_be_resent(own, receiver):
    sandbox, client = own
    receiver.status = 503
    assert sandbox.sign_mandate(client.add_mandate(mandate_request()).mandate_url) == 503

    receiver.status = 200
    assert sandbox.resend_postback() == 200

    assert [p["status"] for p in sandbox.postbacks] == [503, 200]
    assert receiver.posts[0]["form"] == receiver.posts[1]["form"]


# --- Pay Now -------------------------------------------------------------------------------------


def _paynow(reference="PR-7", amount="517.50"):
    return paynow_form(
        reference=reference,
        description="Invoice INV-2026-00017",
        amount=Decimal(amount),
        extra1=reference,
        extra2="secret-7",
        extra3="INV-2026-00017",
        email="thandi@example.co.za",
        mobile="082 555 0101",
    )


def test_pay_now_page_takes_the_form_and_paying_posts_the_notify(own, receiver):
    url, fields = _paynow()
    assert fields["m1"] == SANDBOX_CREDENTIALS["NETCASH_PAYNOW_SERVICE_KEY"]
    assert (fields["p4"], fields["m11"], fields["Budget"]) == ("517.50", "0825550101", "N")

    page = httpx.post(url, data=fields)
    assert "Pay R 517.50" in page.text
    done = httpx.post(url.rsplit("/", 1)[0] + "/paynow/complete", data={"p2": "PR-7"})

    assert "Payment successful" in done.text
    [post] = receiver.posts
    assert post["path"] == "/api/webhooks/netcash/paynow" and post["key"] == SECRET
    notify = parse_paynow_notify(post["form"])
    assert notify.status == "success" and notify.request_trace
    assert (notify.reference, notify.amount, notify.method) == ("PR-7", Decimal("517.50"), "1")
    assert (notify.extra1, notify.extra2, notify.extra3) == ("PR-7", "secret-7", "INV-2026-00017")


@pytest.mark.parametrize(
    "outcome, status, text",
    [("decline", "declined", "declined"), ("cancel", "cancelled", "cancelled")],
)
def test_declined_or_cancelled_payment_notifies_without_paying(
    own, receiver, outcome, status, text
):
    sandbox, client = own
    url, fields = _paynow()
    httpx.post(url, data=fields)

    done = httpx.post(
        url.rsplit("/", 1)[0] + "/paynow/complete", data={"p2": "PR-7", "outcome": outcome}
    )

    assert f"Payment {text}" in done.text
    assert parse_paynow_notify(receiver.posts[0]["form"]).status == status
    assert statement(client, TODAY) == []


def test_pay_now_form_with_a_foreign_service_key_is_refused(own):
    url, fields = _paynow()

    page = httpx.post(url, data={**fields, "m1": "not-our-key"})

    assert page.status_code == 400 and "service key" in page.text


def test_a_paid_reference_cannot_be_paid_again(own):
    sandbox, client = own
    url, fields = _paynow()
    sandbox.pay_now("PR-7", form=fields)

    again = httpx.post(url, data=fields)

    assert again.status_code == 400 and "already been processed" in again.text
    with pytest.raises(ValueError, match="already paid"):
        sandbox.pay_now("PR-7")


def test_a_test_can_report_a_different_amount_from_the_one_asked(own, receiver):
    sandbox, client = own
    _, fields = _paynow()

    sandbox.pay_now("PR-7", amount=Decimal("1.00"), form=fields)

    assert receiver.posts[0]["form"]["Amount"] == "1.00"


def test_paying_an_unopened_reference_is_a_clear_error(own):
    sandbox, _ = own

    with pytest.raises(LookupError, match="POST its form"):
        sandbox.pay_now("PR-404")


# --- protocol manners ----------------------------------------------------------------------------


def test_soap_12_content_type_is_refused_like_wcf(own):
    sandbox, client = own

    answer = httpx.post(
        client.ws_url,
        content=b"<x/>",
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
    )

    assert answer.status_code == 415 and "text/xml; charset=utf-8" in answer.text


def test_an_envelope_whose_method_does_not_match_the_action_is_a_client_fault(own):
    sandbox, client = own
    client.call  # noqa: B018 - the same transport, a wrong body
    answer = httpx.post(
        client.ws_url,
        content=(
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<GetDebitLimits xmlns="http://example.com/"/></soap:Body></soap:Envelope>'
        ),
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '"http://tempuri.org/INIWS_NIF/GetDebitLimits"',
        },
    )

    assert answer.status_code == 500 and "s:Client" in answer.text


def test_header_service_key_must_be_the_debit_order_key(own):
    sandbox, client = own
    text = batch_file([debit()]).replace(
        SANDBOX_CREDENTIALS["NETCASH_DEBIT_ORDER_SERVICE_KEY"],
        SANDBOX_CREDENTIALS["NETCASH_ACCOUNT_SERVICE_KEY"],
    )

    report = load_report(client, client.batch_file_upload(text))

    assert report.result == "UNSUCCESSFUL"
    assert "Service key in the header is not valid for this service" in [
        e.message for e in report.errors
    ]


def test_every_bad_line_is_reported_with_its_line_number(own):
    sandbox, client = own
    bad = DebitLine("CT-2026-00018", "X", "X", 1, "250655", "1", 100, "DOI-2")
    text = batch_file([debit(), bad, debit("CT-2026-00019", item="DOI-3")])
    text = text.replace("\t250655\t1\t100\t", "\t25065\t1\t100\t")  # a 5-digit branch code

    report = load_report(client, client.batch_file_upload(text))

    assert report.result == "UNSUCCESSFUL"
    assert [(e.reference, e.line, e.message) for e in report.errors] == [
        ("CT-2026-00018", 4, "Branch code is not valid")
    ]


def test_with_ignore_errors_on_the_good_lines_load(own):
    sandbox, client = own
    sandbox.ignore_errors = True
    lines = [debit(), debit("CT-2026-00018", 600_000, item="DOI-2")]

    report = load_report(client, client.batch_file_upload(batch_file(lines)))

    assert report.result == "SUCCESSFUL WITH ERRORS" and len(report.errors) == 1
    [batch] = client.retrieve_batch_status()
    assert (batch.count, batch.value) == (1, Decimal("517.50"))


def test_more_not_ready_polls_can_be_asked_for(own):
    sandbox, client = own
    sandbox.not_ready_polls = 3
    token = client.batch_file_upload(batch_file([debit()]))

    answers = [client.request_file_upload_report(token) for _ in range(4)]

    assert answers[:3] == [None, None, None] and answers[3].result == "SUCCESSFUL"


def test_sameday_batches_may_run_on_saturday_but_not_after_the_cutoff(own):
    sandbox, client = own
    friday_morning = clock.business_datetime(date(2026, 11, 27), time(7, 0))

    with clock.frozen_at(friday_morning):
        assert client.request_action_date(date(2026, 11, 27), instruction="Sameday") == date(
            2026, 11, 27
        )
    with clock.frozen_at(friday_morning + timedelta(hours=6)):  # 13:00 SAST, past 10:59
        assert client.request_action_date(date(2026, 11, 27), instruction="Sameday") == date(
            2026, 11, 28
        )


def test_twoday_first_action_date_counts_business_days_only():
    wednesday = clock.business_datetime(date(2026, 12, 9))

    # Thu 10, Fri 11, (weekend), Mon 14 -> 14; from Fri 11: Mon 14, Tue 15, (16 holiday), Thu 17.
    assert first_action_date("TwoDay", wednesday) == date(2026, 12, 14)
    assert first_action_date("TwoDay", wednesday + timedelta(days=2)) == date(2026, 12, 17)


def test_batches_are_processed_from_their_action_date(own):
    sandbox, client = own
    uploaded_and_authorised(client, [debit()])

    with clock.frozen_at(FIRST_TWODAY):
        [batch] = client.retrieve_batch_status()

    assert batch.status_code == 4


# --- returns, determinism, state -----------------------------------------------------------------


def test_a_return_set_by_account_reference_hits_only_the_next_collection(own):
    sandbox, client = own
    uploaded_and_authorised(client, [debit()], name="B1")
    later = date(2026, 12, 30)
    uploaded_and_authorised(client, [debit(item="DOI-9")], action_date=later, name="B2")
    sandbox.set_return("CT-2026-00017", code="12")

    with clock.frozen_at(later + timedelta(days=1)):
        second = statement(client, later)
        first = statement(client, FIRST_TWODAY)

    assert [(entry.code, entry.unpaid_code) for entry in first if entry.code in ("TDD", "DRU")] == [
        ("DRU", "12")
    ]
    assert [entry.code for entry in second if entry.code in ("TDD", "DRU")] == ["TDD"]


def _returned_items(receiver, rate, seed):
    sandbox, server = start(receiver)
    try:
        sandbox.set_default_return_rate(rate, seed)
        with httpx.Client(timeout=5) as http:
            client = NetcashClient(
                ws_url=sandbox.config(server.base_url)["NETCASH_WS_URL"],
                debit_order_key=SANDBOX_CREDENTIALS["NETCASH_DEBIT_ORDER_SERVICE_KEY"],
                account_key=SANDBOX_CREDENTIALS["NETCASH_ACCOUNT_SERVICE_KEY"],
                http=http,
            )
            lines = [debit(f"CT-2026-{n:05d}", item=f"DOI-{n}") for n in range(1, 41)]
            uploaded_and_authorised(client, lines)
            with clock.frozen_at(FIRST_TWODAY + timedelta(days=1)):
                collected = statement(client, FIRST_TWODAY)
            return [(e.extra1, e.unpaid_code) for e in collected if e.code == "DRU"]
    finally:
        server.stop()


def test_default_return_rate_is_decided_by_the_seed_not_by_chance(app, receiver):
    first = _returned_items(receiver, 0.25, seed=7)
    again = _returned_items(receiver, 0.25, seed=7)
    other = _returned_items(receiver, 0.25, seed=8)

    assert first == again and 2 <= len(first) <= 20
    assert other != first
    assert all(code in ("02", "22", "04", "12", "30") for _, code in first)


def test_state_survives_a_restart_when_a_state_dir_is_given(app, receiver, tmp_path):
    sandbox, server = start(receiver, state_dir=tmp_path)
    sandbox.set_return("DOI-1", "22")
    with httpx.Client(timeout=5) as http:
        client = NetcashClient(
            ws_url=sandbox.config(server.base_url)["NETCASH_WS_URL"],
            debit_order_key=SANDBOX_CREDENTIALS["NETCASH_DEBIT_ORDER_SERVICE_KEY"],
            account_key=SANDBOX_CREDENTIALS["NETCASH_ACCOUNT_SERVICE_KEY"],
            http=http,
        )
        uploaded_and_authorised(client, [debit()])
        client.add_mandate(mandate_request())
    server.stop()

    restarted, server = start(receiver, state_dir=tmp_path)
    try:
        assert [b["status"] for b in restarted.uploaded_batches] == [2]
        assert [m["account_reference"] for m in restarted.mandates] == ["CT-2026-00017"]
        assert (tmp_path / "netcash.json").exists()
        restarted.reset()
        assert restarted.uploaded_batches == [] and restarted.mandates == []
    finally:
        server.stop()


def test_concurrent_uploads_each_get_their_own_token_and_batch(app, own):
    sandbox, client = own
    tokens, errors = [], []

    def upload(number):
        try:
            # Each thread needs an app context of its own for the retry settings.
            with app.app_context(), httpx.Client(timeout=10) as http:
                own_client = NetcashClient(
                    ws_url=client.ws_url,
                    debit_order_key=SANDBOX_CREDENTIALS["NETCASH_DEBIT_ORDER_SERVICE_KEY"],
                    account_key=None,
                    http=http,
                )
                tokens.append(
                    own_client.batch_file_upload(batch_file([debit()], name=f"B{number}"))
                )
        except ProviderError as error:
            errors.append(error)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and len(set(tokens)) == 8
    assert len({b["batch_guid"] for b in sandbox.uploaded_batches}) == 8


def test_control_api_steers_the_sandbox_over_http(own, receiver):
    sandbox, client = own
    base = client.ws_url.split("/NIWS")[0]
    url = client.add_mandate(mandate_request()).mandate_url
    token = url.rsplit("/", 1)[1]

    assert httpx.post(
        f"{base}/_sandbox/returns", json={"reference": "DOI-1", "code": "4"}
    ).is_success
    signed = httpx.post(f"{base}/_sandbox/mandates/{token}/sign", json={"accept": True}).json()
    state = httpx.get(f"{base}/_sandbox/state").json()

    assert signed == {"postback_status": 200}
    assert state["mandates"][0]["status"] == "signed"
    uploaded_and_authorised(client, [debit()])
    with clock.frozen_at(FIRST_TWODAY + timedelta(days=1)):
        [unpaid] = [entry for entry in statement(client, FIRST_TWODAY) if entry.code == "DRU"]
    assert unpaid.unpaid_code == "04"
    assert httpx.post(f"{base}/_sandbox/reset").is_success
    assert sandbox.mandates == []
