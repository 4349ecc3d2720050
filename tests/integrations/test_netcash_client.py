"""The production NetCash client against the NetCash sandbox, over real HTTP (SOAP 1.1)."""

from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from app import clock
from app.integrations.http import ProviderNotConfigured, ProviderUnavailable
from app.integrations.netcash import (
    DebitLine,
    MandateRequest,
    NetcashClient,
    NetcashError,
    SoapFault,
    build_debit_batch,
    paynow_form,
)
from app.integrations.sandbox import SANDBOX_CREDENTIALS

TODAY = date(2026, 11, 25)  # a Wednesday
FIRST_TWODAY = date(2026, 11, 30)  # three business days on: Thu, Fri, Mon


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(TODAY):
        yield


@pytest.fixture
def netcash(sandboxes):
    with NetcashClient.from_config() as client:
        yield client


def debit(reference="CT-2026-00017", cents=51750, item="DOI-1"):
    return DebitLine(
        account_reference=reference,
        account_name="Thandi Nkosi",
        holder_name="T Nkosi",
        account_type=1,
        branch_code="250655",
        account_number="62800000000",
        amount_cents=cents,
        item_reference=item,
    )


def batch_file(lines, action_date=FIRST_TWODAY, name="DO-20261130"):
    return build_debit_batch(
        service_key=SANDBOX_CREDENTIALS["NETCASH_DEBIT_ORDER_SERVICE_KEY"],
        vendor_key="24ade73c-98cf-47b3-99be-cc7b867b3080",
        batch_name=name,
        action_date=action_date,
        lines=lines,
    )


def load_report(netcash, token):
    """Poll as the debit-order run does: FILE NOT READY first, then the report."""
    for _ in range(5):
        report = netcash.request_file_upload_report(token)
        if report is not None:
            return report
    raise AssertionError("the load report never became ready")


def uploaded_and_authorised(netcash, lines, action_date=FIRST_TWODAY, name="DO-20261130"):
    token = netcash.batch_file_upload(batch_file(lines, action_date, name))
    assert load_report(netcash, token).result == "SUCCESSFUL"
    [status] = [b for b in netcash.retrieve_batch_status() if b.batch_name == name]
    netcash.request_batch_authorise(status.batch_guid)
    return status.batch_guid


def statement(netcash, day):
    polling_id = netcash.request_merchant_statement(day)
    for _ in range(5):
        lines = netcash.retrieve_merchant_statement(polling_id)
        if lines is not None:
            return lines
    raise AssertionError("the statement never became ready")


def mandate_request(**overrides):
    values = {
        "account_reference": "CT-2026-00017",
        "mandate_name": "CircleTel CT-2026-00017",
        "mandate_amount": Decimal("1500.00"),
        "is_consumer": True,
        "first_name": "Thandi",
        "surname": "Nkosi",
        "trading_name": None,
        "registration_number": None,
        "registered_name": None,
        "mobile_number": "+27825550101",
        "email": "thandi@example.co.za",
        "debit_day": 30,
        "commencement_month": 12,
        "agreement_date": TODAY,
        "agreement_reference": "PM-41",
        "public_holiday_option": "PrecedingOrdinaryBusinessDay",
        "bank_account_name": "T Nkosi",
        "bank_account_number": "62800000000",
        "branch_code": "250655",
        "bank_account_type": "Current",
        "field1": "41",
    }
    values.update(overrides)
    return MandateRequest(**values)


def test_client_without_netcash_url_is_not_configured(app):
    with pytest.raises(ProviderNotConfigured, match="NETCASH_WS_URL"):
        NetcashClient.from_config()


# --- batches -------------------------------------------------------------------------------------


def test_valid_batch_gives_a_token_then_file_not_ready_then_a_successful_report(netcash, sandboxes):
    token = netcash.batch_file_upload(batch_file([debit(), debit("CT-2026-00018", 79900)]))

    assert netcash.request_file_upload_report(token) is None  # FILE NOT READY
    report = netcash.request_file_upload_report(token)

    assert report.result == "SUCCESSFUL" and report.batch_name == "DO-20261130"
    assert report.errors == [] and report.text.startswith("###BEGIN")
    [upload] = sandboxes.netcash.uploaded_batches
    assert upload["token"] == token and upload["status"] == 1
    assert [line["item_reference"] for line in upload["lines"]] == ["DOI-1", "DOI-1"]


def test_batch_whose_footer_total_is_wrong_is_unsuccessful(netcash, sandboxes):
    text = batch_file([debit()]).replace("F\t1\t51750\t9999", "F\t1\t51700\t9999")

    report = load_report(netcash, netcash.batch_file_upload(text))

    assert report.result == "UNSUCCESSFUL"
    assert [e.message for e in report.errors] == [
        "Footer total does not match the sum of the amounts"
    ]
    assert sandboxes.netcash.uploaded_batches[0]["batch_guid"] is None


@pytest.mark.parametrize(
    "action_date",
    [
        TODAY + timedelta(days=2),  # Friday: only two business days ahead
        date(2026, 12, 5),  # a Saturday
        date(2026, 12, 16),  # Day of Reconciliation
    ],
)
def test_batch_with_an_action_date_netcash_cannot_meet_is_rejected(netcash, action_date):
    token = netcash.batch_file_upload(batch_file([debit()], action_date=action_date))

    report = load_report(netcash, token)

    assert report.result == "UNSUCCESSFUL"
    assert [(e.line, e.message) for e in report.errors] == [
        (None, "Action date is not valid for this instruction")
    ]


def test_one_line_over_the_line_limit_rejects_the_whole_batch(netcash, sandboxes):
    lines = [debit(), debit("CT-2026-00018", 500_001, item="DOI-2")]

    report = load_report(netcash, netcash.batch_file_upload(batch_file(lines)))

    assert report.result == "UNSUCCESSFUL"
    assert [(e.reference, e.line, e.message) for e in report.errors] == [
        ("CT-2026-00018", 4, "Amount exceeds the line limit of R5000.00")
    ]
    assert netcash.retrieve_batch_status() == []


def test_wrong_service_key_is_refused_with_code_100(app, sandboxes):
    client = NetcashClient.from_config()
    client._debit_order_key = "00000000-0000-4000-8000-000000000000"
    with client, pytest.raises(NetcashError) as refused:
        client.batch_file_upload(batch_file([debit()]))

    assert refused.value.code == "100"


def test_the_account_key_is_not_valid_for_debit_orders(app, sandboxes):
    client = NetcashClient.from_config()
    client._debit_order_key = SANDBOX_CREDENTIALS["NETCASH_ACCOUNT_SERVICE_KEY"]
    with client, pytest.raises(NetcashError) as refused:
        client.retrieve_batch_status()

    assert refused.value.code == "311"


def test_authorising_a_loaded_batch_makes_it_status_2(netcash):
    token = netcash.batch_file_upload(batch_file([debit()]))
    load_report(netcash, token)
    [batch] = netcash.retrieve_batch_status()
    assert (batch.status_code, batch.count, batch.value) == (1, 1, Decimal("517.50"))

    netcash.request_batch_authorise(batch.batch_guid)

    [batch] = netcash.retrieve_batch_status()
    assert batch.status_code == 2


def test_authorise_is_refused_without_auto_authorisation_and_for_an_unknown_batch(
    netcash, sandboxes
):
    token = netcash.batch_file_upload(batch_file([debit()]))
    load_report(netcash, token)
    [batch] = netcash.retrieve_batch_status()
    sandboxes.netcash.set_authorise_result("322")

    with pytest.raises(NetcashError) as refused:
        netcash.request_batch_authorise(batch.batch_guid)
    assert refused.value.code == "322"
    with pytest.raises(NetcashError) as unknown:
        netcash.request_batch_authorise("6e7c0a5d-0000-4000-8000-000000000000")
    assert unknown.value.code == "317"
    assert netcash.retrieve_batch_status()[0].status_code == 1


def test_authorise_over_the_daily_limit_is_refused(netcash, sandboxes):
    sandboxes.netcash.set_limits(daily=Decimal("1000.00"))
    uploaded_and_authorised(netcash, [debit(cents=60000)], name="B1")
    token = netcash.batch_file_upload(batch_file([debit(cents=50000)], name="B2"))
    load_report(netcash, token)
    [second] = [b for b in netcash.retrieve_batch_status() if b.batch_name == "B2"]

    with pytest.raises(NetcashError) as refused:
        netcash.request_batch_authorise(second.batch_guid)

    assert refused.value.code == "319"


def test_action_date_request_skips_weekends_and_public_holidays(netcash):
    with clock.frozen_at(date(2026, 12, 11)):  # Friday; Wednesday 16 December is a holiday
        assert netcash.request_action_date(date(2026, 12, 11)) == date(2026, 12, 17)
        assert netcash.request_action_date(date(2026, 12, 19)) == date(2026, 12, 21)
        assert netcash.request_action_date(date(2026, 12, 17), forward=False) == date(2026, 12, 17)
        with pytest.raises(NetcashError) as refused:
            netcash.request_action_date(date(2026, 12, 16), forward=False)
        assert refused.value.code == "200"


def test_debit_limits_are_read_in_rands(netcash, sandboxes):
    assert netcash.get_debit_limits() == (Decimal("5000.00"), Decimal("200000.00"))

    sandboxes.netcash.set_limits(line=Decimal("1500"))

    assert netcash.get_debit_limits() == (Decimal("1500.00"), Decimal("200000.00"))


# --- mandates ------------------------------------------------------------------------------------


def test_add_mandate_returns_a_signing_url_on_the_sandbox(netcash, sandboxes):
    result = netcash.add_mandate(mandate_request())

    assert result.ok and result.error_code == "000" and result.errors == []
    page = httpx.get(result.mandate_url)
    assert page.status_code == 200 and "Sign mandate" in page.text
    [mandate] = sandboxes.netcash.mandates
    assert mandate["status"] == "pending" and mandate["debit_day"] == "LDOM"
    assert mandate["mobile_number"] == "0825550101" and mandate["fields"]["Field1"] == "41"


def test_add_mandate_with_bad_details_lists_netcash_errors(netcash):
    result = netcash.add_mandate(
        mandate_request(branch_code="25065", is_consumer=False, bank_account_type="Cheque")
    )

    assert result.error_code == "203" and result.mandate_url is None and not result.ok
    assert "BranchCode must be 6 digits" in result.errors
    assert "TradingName is required for a business mandate" in result.errors
    assert "BankAccountType must be Current, Savings or Transmission" in result.errors


def test_signing_a_mandate_posts_the_postback_to_the_app(netcash, sandboxes):
    result = netcash.add_mandate(mandate_request())

    status = sandboxes.netcash.sign_mandate(result.mandate_url)

    [postback] = sandboxes.netcash.postbacks
    assert postback["kind"] == "emandate" and postback["status"] == status
    assert isinstance(status, int)  # the app answered (its route decides the status)
    fields = postback["fields"]
    assert (fields["MandateSuccessful"], fields["IsDeclined"], fields["AccountRef"]) == (
        "1",
        "0",
        "CT-2026-00017",
    )
    assert fields["Field1"] == "41" and fields["BankAccountNo"] == "628*******0"
    assert sandboxes.netcash.mandates[0]["status"] == "signed"


def test_mandate_data_reports_awaiting_then_accepted(netcash, sandboxes):
    result = netcash.add_mandate(mandate_request())

    token = netcash.request_mandate_data()
    assert netcash.retrieve_mandate_data(token) is None  # FILE NOT READY
    [line] = netcash.retrieve_mandate_data(token)
    assert (line.status_code, line.account_reference, line.amount) == (
        2,
        "CT-2026-00017",
        Decimal("1500.00"),
    )

    sandboxes.netcash.sign_mandate(result.mandate_url)
    token = netcash.request_mandate_data()
    netcash.retrieve_mandate_data(token)
    assert [m.status_code for m in netcash.retrieve_mandate_data(token)] == [6]


# --- statement -----------------------------------------------------------------------------------


def test_statement_after_the_action_date_confirms_each_collection(netcash):
    uploaded_and_authorised(netcash, [debit(), debit("CT-2026-00018", 79900, item="DOI-2")])

    with clock.frozen_at(FIRST_TWODAY + timedelta(days=1)):
        lines = statement(netcash, FIRST_TWODAY)

    assert [line.code for line in lines] == ["OBL", "TDD", "TDD", "CBL"]
    collected = lines[1:3]
    assert [
        (entry.extra1, entry.account_reference, entry.amount, entry.sign) for entry in collected
    ] == [
        ("DOI-1", "CT-2026-00017", Decimal("517.50"), "+"),
        ("DOI-2", "CT-2026-00018", Decimal("799.00"), "+"),
    ]
    assert all(entry.transaction_date == FIRST_TWODAY for entry in lines)
    assert lines[-1].amount == lines[0].amount + Decimal("1316.50")
    assert len({entry.transaction_id for entry in lines}) == 4


def test_a_return_set_for_an_item_comes_back_unpaid_with_its_code(netcash, sandboxes):
    uploaded_and_authorised(netcash, [debit(), debit("CT-2026-00018", 79900, item="DOI-2")])
    sandboxes.netcash.set_return("DOI-2", code="02")

    with clock.frozen_at(FIRST_TWODAY + timedelta(days=1)):
        first = statement(netcash, FIRST_TWODAY)
        again = statement(netcash, FIRST_TWODAY)

    [unpaid] = [line for line in first if line.code == "DRU"]
    assert (unpaid.extra1, unpaid.unpaid_code, unpaid.sign) == ("DOI-2", "02", "-")
    assert "Code 02" in unpaid.description
    assert [entry.transaction_id for entry in again] == [entry.transaction_id for entry in first]


def test_batches_never_authorised_are_never_collected(netcash):
    token = netcash.batch_file_upload(batch_file([debit()]))
    load_report(netcash, token)

    with clock.frozen_at(FIRST_TWODAY + timedelta(days=1)):
        assert statement(netcash, FIRST_TWODAY) == []  # NO CHANGE


def test_no_statement_for_a_day_that_has_not_happened(netcash):
    with pytest.raises(NetcashError) as refused:
        netcash.request_merchant_statement(TODAY + timedelta(days=1))

    assert refused.value.code == "102"


def test_pay_now_payment_appears_on_that_days_statement(netcash, sandboxes):
    url, fields = paynow_form(
        reference="PR-7",
        description="Invoice INV-2026-00017",
        amount=Decimal("517.5"),
        extra1="PR-7",
        extra2="secret-7",
        extra3="",
        email="thandi@example.co.za",
        mobile="+27825550101",
    )
    page = httpx.post(url, data=fields)
    assert page.status_code == 200 and "Pay R 517.50" in page.text

    sandboxes.netcash.pay_now("PR-7")

    [pnc] = [line for line in statement(netcash, TODAY) if line.code == "PNC"]
    assert (pnc.amount, pnc.extra1, pnc.account_reference) == (
        Decimal("517.50"),
        "PR-7",
        "secret-7",
    )
    [notify] = sandboxes.netcash.postbacks
    assert notify["kind"] == "paynow" and notify["fields"]["Reference"] == "PR-7"


# --- transport -----------------------------------------------------------------------------------


def test_unknown_soap_action_is_a_fault_and_is_not_retried(netcash, sandboxes):
    with pytest.raises(SoapFault) as fault:
        netcash.call("RetrieveBlockedAccounts", [("ServiceKey", "x")])

    assert fault.value.faultcode == "a:ActionNotSupported" and fault.value.status == 500
    assert sandboxes.netcash.calls == ["RetrieveBlockedAccounts"]


def test_server_errors_are_retried_until_an_answer(netcash, sandboxes, app):
    sandboxes.netcash.fail_next(app.config["PROVIDER_RETRIES"] - 1, status=500)

    assert netcash.get_debit_limits()[0] == Decimal("5000.00")
    assert sandboxes.netcash.calls == ["GetDebitLimits"] * app.config["PROVIDER_RETRIES"]


def test_a_server_failing_every_attempt_makes_netcash_unavailable(netcash, sandboxes, app):
    sandboxes.netcash.fail_next(app.config["PROVIDER_RETRIES"], status=503)

    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        netcash.retrieve_batch_status()


def test_timeouts_are_retried_then_netcash_is_unavailable(sandboxes, app):
    saved = app.config["PROVIDER_TIMEOUT_SECONDS"]
    app.config["PROVIDER_TIMEOUT_SECONDS"] = 0.2
    try:
        sandboxes.netcash.delay_next(0.6, count=app.config["PROVIDER_RETRIES"])
        with (
            NetcashClient.from_config() as client,
            pytest.raises(ProviderUnavailable, match="timed out"),
        ):
            client.get_debit_limits()
    finally:
        app.config["PROVIDER_TIMEOUT_SECONDS"] = saved
