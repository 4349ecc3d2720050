"""NetCash wire formats without a network: batch files, reports, statements, envelopes."""

from datetime import date
from decimal import Decimal

import pytest

from app.integrations.netcash.batch import (
    DEBIT_KEY,
    BatchFileError,
    DebitLine,
    build_debit_batch,
    parse_batch_file,
)
from app.integrations.netcash.paynow import parse_paynow_notify
from app.integrations.netcash.reports import (
    is_result_code,
    parse_batch_status,
    parse_load_report,
    parse_mandate_data,
    parse_statement,
)
from app.integrations.netcash.soap import (
    SoapFault,
    build_envelope,
    commencement_day,
    national_mobile,
    soap_body,
)

KEY = "5c0a1d3e-0000-4000-8000-00000000d0d0"
VENDOR = "24ade73c-98cf-47b3-99be-cc7b867b3080"


def _line(**overrides):
    values = {
        "account_reference": "CT-2026-00017",
        "account_name": "Thandi Nkosi",
        "holder_name": "T Nkosi",
        "account_type": 1,
        "branch_code": "250655",
        "account_number": "62800000000",
        "amount_cents": 51750,
        "item_reference": "DOI-1",
    }
    values.update(overrides)
    return DebitLine(**values)


def _batch(lines, **overrides):
    arguments = {
        "service_key": KEY,
        "vendor_key": VENDOR,
        "batch_name": "DO-20261201",
        "action_date": date(2026, 12, 1),
        "lines": lines,
    }
    arguments.update(overrides)
    return build_debit_batch(**arguments)


def test_batch_file_has_header_key_lines_and_footer_with_crlf_ends():
    text = _batch([_line(), _line(account_reference="CT-2026-00018", amount_cents=79900)])

    records = text.split("\r\n")
    assert records[-1] == ""  # every record, the last included, ends in CRLF
    assert records[0].split("\t") == ["H", KEY, "1", "TwoDay", "DO-20261201", "20261201", VENDOR]
    assert records[1].split("\t") == ["K", *DEBIT_KEY]
    assert records[2].split("\t") == [
        "T", "CT-2026-00017", "Thandi Nkosi", "1", "T Nkosi", "1", "250655", "62800000000",
        "51750", "DOI-1",
    ]  # fmt: skip
    assert records[4].split("\t") == ["F", "2", str(51750 + 79900), "9999"]


def test_batch_values_lose_tabs_and_line_breaks_and_long_names_are_cut():
    text = _batch([_line(account_name="Nkosi\tand\r\nSons " + "x" * 60, holder_name="A\tB")])

    fields = text.split("\r\n")[2].split("\t")
    assert len(fields) == 1 + len(DEBIT_KEY)
    assert fields[2].startswith("Nkosi and Sons ") and len(fields[2]) == 50
    assert fields[4] == "A B"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"account_reference": "C"}, "account reference must be 2-22 characters"),
        ({"account_reference": "C" * 23}, "account reference must be 2-22 characters"),
        ({"branch_code": "25065"}, "branch code must be 6 digits"),
        ({"account_number": "6280-000"}, "bank account number must be 1-16 digits"),
        ({"account_type": 4}, "account type must be"),
        ({"amount_cents": 0}, "amount must be a positive whole number of cents"),
        ({"amount_cents": Decimal("517.50")}, "amount must be a positive whole number"),
        ({"item_reference": " "}, "item reference must be 1-50 characters"),
    ],
)
def test_batch_refuses_a_value_netcash_would_reject_naming_the_line(overrides, message):
    with pytest.raises(ValueError, match=message) as refused:
        _batch([_line(), _line(**overrides)])
    assert "debit line 2" in str(refused.value)


def test_batch_needs_lines_and_a_known_instruction():
    with pytest.raises(ValueError, match="at least one debit line"):
        _batch([])
    with pytest.raises(ValueError, match="instruction must be one of"):
        _batch([_line()], instruction="Weekly")


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
def test_batch_file_parses_back_with_either_line_end(line_end):
    text = _batch([_line(), _line(account_reference="CT-2026-00018")]).replace("\r\n", line_end)

    parsed = parse_batch_file(text)

    assert parsed.instruction == "TwoDay" and parsed.batch_name == "DO-20261201"
    assert parsed.action_date_text == "20261201"
    assert [record.get("101") for record in parsed.transactions] == [
        "CT-2026-00017",
        "CT-2026-00018",
    ]
    assert parsed.transactions[0].get("162") == "51750"
    assert parsed.transactions[1].line_number == 4
    assert parsed.footer == ("F", "2", "103500", "9999")


def test_batch_file_without_footer_is_a_structure_error():
    text = _batch([_line()]).rsplit("F\t", 1)[0]

    with pytest.raises(BatchFileError, match="footer"):
        parse_batch_file(text)


def test_a_result_code_is_three_digits_and_nothing_else():
    assert is_result_code("100") and is_result_code(" 000\r\n")
    assert not is_result_code("20261201")
    assert not is_result_code("20000000.2550236530.0483.2.2")
    assert not is_result_code("FILE NOT READY")


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
def test_load_report_lists_line_errors_and_file_errors(line_end):
    text = line_end.join(
        [
            "###BEGIN\tDO-20261201\tUNSUCCESSFUL\t06:01 AM",
            "CT-2026-00017\tLine :3\tAmount exceeds the line limit",
            "###ERROR\tAction date is not valid for this instruction",
            "###END\t06:01 AM",
        ]
    )

    report = parse_load_report(text)

    assert report.batch_name == "DO-20261201" and report.result == "UNSUCCESSFUL"
    assert not report.successful
    assert [(e.reference, e.line, e.message) for e in report.errors] == [
        ("CT-2026-00017", 3, "Amount exceeds the line limit"),
        (None, None, "Action date is not valid for this instruction"),
    ]


def test_clean_load_report_is_successful_without_errors():
    report = parse_load_report("###BEGIN\tB1\tSUCCESSFUL\t06:01 AM\r\n###END\t06:01 AM\r\n")

    assert report.successful and report.errors == []


def test_text_that_is_not_a_load_report_is_refused():
    with pytest.raises(ValueError, match="not a NetCash load report"):
        parse_load_report("Something else entirely")


def test_batch_status_lines_give_guid_name_status_count_and_rands():
    text = (
        f"{KEY}\tb9d1c6a0-0000-4000-8000-000000000001\tDO-20261201\t2\t3\t1552.50\t"
        "2026-11-25 06:00:01\t2026-11-25 06:00:05\t1900-01-01 00:00:00\r\n"
    )

    [status] = parse_batch_status(text)

    assert status.batch_guid.endswith("0001") and status.batch_name == "DO-20261201"
    assert (status.status_code, status.count, status.value) == (2, 3, Decimal("1552.50"))


def test_mandate_data_lines_skip_the_begin_and_end_markers():
    text = "###BEGIN\t20261125\n6\tCT-2026-00017\tThandi Nkosi\t799.00\t1\n###END\n"

    [line] = parse_mandate_data(text)

    assert (line.status_code, line.account_reference, line.amount) == (
        6,
        "CT-2026-00017",
        Decimal("799.00"),
    )


@pytest.mark.parametrize("line_end", ["\r\n", "\n"])
def test_statement_lines_read_amount_sign_extras_and_unpaid_code(line_end):
    text = line_end.join(
        [
            "20261201\tOBL\t100000001\tOpening balance\t0.00\t+\t0.00\t\t",
            "20261201\tTDD\t100000002\tThandi Nkosi\t517.50\t+\t0.00\tDOI-1\tCT-2026-00017",
            "20261201\tDRU\t100000003\tUnpaid Code 2 Not provided for\t799.00\t-\t0.00\tDOI-2\t"
            "CT-2026-00018",
        ]
    )

    opening, paid, unpaid = parse_statement(text)

    assert opening.code == "OBL" and opening.extra1 is None
    assert paid.transaction_date == date(2026, 12, 1)
    assert (paid.code, paid.amount, paid.sign, paid.extra1, paid.account_reference) == (
        "TDD",
        Decimal("517.50"),
        "+",
        "DOI-1",
        "CT-2026-00017",
    )
    assert paid.unpaid_code is None
    assert (unpaid.code, unpaid.unpaid_code, unpaid.signed_amount) == (
        "DRU",
        "02",
        Decimal("-799.00"),
    )


def test_envelope_escapes_the_batch_file_and_crlf_survives_the_round_trip():
    file_text = 'H\tA&B <Co>\r\nT\t"x"\r\n'

    envelope = build_envelope("BatchFileUpload", [("ServiceKey", KEY), ("File", file_text)])
    method = soap_body(envelope)

    assert method.tag == "{http://tempuri.org/}BatchFileUpload"
    assert [child.tag.split("}")[1] for child in method] == ["ServiceKey", "File"]
    assert method[1].text == file_text
    assert b"&amp;" in envelope and b"&lt;Co&gt;" in envelope and b"&#xD;" in envelope


def test_envelope_writes_booleans_dates_and_rands_as_wcf_reads_them_and_leaves_out_none():
    envelope = build_envelope(
        "X",
        [("B", True), ("D", date(2026, 12, 1)), ("A", Decimal("799")), ("N", None)],
    ).decode()

    assert "<B>true</B><D>20261201</D><A>799.00</A></X>" in envelope
    assert "<N>" not in envelope


def test_response_with_soap_or_s_prefix_is_read_and_a_fault_raises():
    for prefix in ("s", "soap"):
        answer = (
            f'<{prefix}:Envelope xmlns:{prefix}="http://schemas.xmlsoap.org/soap/envelope/">'
            f'<{prefix}:Body><XResponse xmlns="http://tempuri.org/"><XResult>ok</XResult>'
            f"</XResponse></{prefix}:Body></{prefix}:Envelope>"
        ).encode()
        assert soap_body(answer)[0].text == "ok"

    fault = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
        b"<faultcode>s:Client</faultcode><faultstring>No such action</faultstring>"
        b"</s:Fault></s:Body></s:Envelope>"
    )
    with pytest.raises(SoapFault, match="No such action") as raised:
        soap_body(fault)
    assert not raised.value.transient


@pytest.mark.parametrize(
    "debit_day, expected", [(1, "01"), (5, "05"), (25, "25"), (30, "LDOM"), (31, "LDOM")]
)
def test_debit_day_becomes_netcash_commencement_day(debit_day, expected):
    assert commencement_day(debit_day) == expected


@pytest.mark.parametrize("number", ["+27825550101", "082 555 0101", "27825550101"])
def test_mobile_numbers_go_to_netcash_in_national_format(number):
    assert national_mobile(number) == "0825550101"


@pytest.mark.parametrize(
    "fields, status",
    [
        ({"TransactionAccepted": "true", "Reason": "Success"}, "success"),
        ({"TransactionAccepted": "false", "Reason": "Transaction declined"}, "declined"),
        ({"TransactionAccepted": "false", "Reason": "Cancelled by user"}, "cancelled"),
        ({"TransactionAccepted": "true", "Reason": "Payment pending"}, "pending"),
        ({"TransactionAccepted": "true", "Reason": "Unexpected"}, "declined"),
    ],
)
def test_paynow_status_follows_netcash_library_rules(fields, status):
    assert parse_paynow_notify(fields).status == status


def test_paynow_notify_with_junk_amount_parses_with_no_amount():
    notify = parse_paynow_notify({"Amount": "R12,x", "Reference": " INV-1 ", "Extra1": ""})

    assert notify.amount is None and notify.reference == "INV-1" and notify.extra1 is None
    assert parse_paynow_notify({"Amount": "517.5"}).amount == Decimal("517.50")
