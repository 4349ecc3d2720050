"""NetCash sandbox: the NIWS_NIF SOAP service, the eMandate signing page and Pay Now.

Plays NetCash for `make run`, `flask billing simulate` and the tests (integrations.md §1,
§5.2–§5.4). One SOAP 1.1 endpoint dispatches on SOAPAction (a fault for an unknown action,
415 for a SOAP 1.2 content type) and checks the service key of each method (debit-order key
for batches and mandates, account key for the statement: `100` for an unknown key, `311` for
one of ours on the wrong service).

- BatchFileUpload validates the H/K/T/F structure, footer count and cents total, the fields
  of every line, the line limit and the action-date rule (TwoDay: a business day at least
  three business days ahead; Sameday: a Monday-Saturday processing day, today only before
  11:00 SAST; weekends and SA public holidays skipped). "Ignore errors" is off unless
  `ignore_errors` is set: one bad line rejects the whole batch (UNSUCCESSFUL). The load
  report answers FILE NOT READY for the first `not_ready_polls` polls of each token.
- Batches are kept with a GUID and status (1 unauthorised, 2 authorised, 4 processed from
  the action date on); RequestBatchAuthorise answers `authorise_result` ("000", or "322"
  when auto-authorisation is off), "317" for an unknown GUID, "319" over the daily limit.
- AddMandate returns a MandateUrl on this server; its page signs or declines and then POSTs
  the §1.11 postback to the app. RequestMandateData / RetrieveMandateData list the mandates.
- RequestMerchantStatement(D) lists every authorised line with action date D (TDD, or DRU
  with "Unpaid Code nn" when a return was set), and Pay Now payments made on D (PNC card,
  PNE EFT), between OBL and CBL lines; transaction ids are stable.
- The Pay Now page (NETCASH_PAYNOW_URL) takes the m1… form and posts the §1.14 notify.

Tests steer it from Python (`set_return`, `set_default_return_rate`, `sign_mandate`,
`pay_now`, `fail_next`, `delay_next`, `set_limits`, `resend_postback`) or over HTTP under
`/_sandbox/`. Deterministic (ids from counters, returns from a seed) and thread-safe (one
lock); with `context.state_file("netcash")` its state survives restarts.
"""

import hashlib
import json
import logging
import re
import threading
import time as wall_time
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
from flask import Flask, abort, jsonify, render_template, request
from werkzeug.wrappers import Response

from app import clock
from app.business_days import _statutory_holidays
from app.integrations.http import ProviderError
from app.integrations.netcash.batch import BatchFileError, parse_batch_file
from app.integrations.netcash.soap import (
    ACTION_PREFIX,
    SOAP_ENV,
    TEMPURI,
    local_name,
    soap_body,
    xml_text,
)
from app.integrations.sandbox import SandboxContext

log = logging.getLogger(__name__)

WS_PATH = "/NIWS/NIWS_NIF.svc"
PAYNOW_PATH = "/site/paynow.aspx"
DATA_CONTRACT_NS = "http://schemas.datacontract.org/2004/07/NC.DG.TMS.C.WCF.NIWS"
ARRAYS_NS = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ID_NAMESPACE = uuid.UUID("6e7c0a5d-1f0b-4d55-9b3a-5a4e7c0a5d1f")  # deterministic ids
TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "sandbox"
NEVER = "1900-01-01 00:00:00"

DEFAULT_LINE_LIMIT = Decimal("5000.00")
DEFAULT_DAILY_LIMIT = Decimal("200000.00")
SAMEDAY_CUTOFF = time(11, 0)
TWODAY_LEAD_BUSINESS_DAYS = 3

BANK_ACCOUNT_TYPES = ("Current", "Savings", "Transmission")
HOLIDAY_OPTIONS = ("PrecedingOrdinaryBusinessDay", "VeryNextOrdinaryBusinessDay")
DEBIT_FREQUENCIES = (
    "Monthly",
    "Bimonthly",
    "ThreeMonthly",
    "SixMonthly",
    "Annually",
    "Weekly",
    "Biweekly",
)
MANDATE_AWAITING, MANDATE_EXPIRED, MANDATE_DECLINED, MANDATE_ACCEPTED = 2, 3, 5, 6
MANDATE_STATUS_NAMES = {
    MANDATE_AWAITING: "pending",
    MANDATE_EXPIRED: "expired",
    MANDATE_DECLINED: "declined",
    MANDATE_ACCEPTED: "signed",
}

# Bank-industry descriptions of unpaid codes (integrations.md §5.3).
UNPAID_REASONS = {
    "02": "Not provided for",
    "03": "Debits not allowed to this account",
    "04": "Payment stopped by account holder",
    "06": "Account frozen",
    "08": "Account in sequestration",
    "10": "Account in liquidation",
    "12": "Account closed",
    "14": "Account transferred",
    "16": "Account transferred to another bank",
    "18": "Account holder deceased",
    "22": "Account effects not cleared",
    "26": "Account closed",
    "28": "Recall/withdrawal",
    "30": "No authority to debit",
    "32": "Debit in contravention of payer's authority",
    "34": "Authorisation cancelled",
    "36": "Previously stopped via stop-payment advice",
    "56": "Not FICA compliant",
    "60": "Blocked after consecutive unpaids",
}
# Codes drawn for the default return rate: mostly insufficient funds, as in practice.
RANDOM_RETURN_CODES = ("02",) * 6 + ("22", "04", "12", "30")

BRANCH_BANKS = {
    "250655": "FNB",
    "632005": "ABSA",
    "051001": "Standard Bank",
    "198765": "Nedbank",
    "470010": "Capitec",
    "678910": "TymeBank",
    "679000": "Discovery Bank",
    "580105": "Investec",
    "430000": "African Bank",
}
READ_ONLY_METHODS = frozenset({"RetrieveBatchStatus", "RequestActionDate", "GetDebitLimits"})
PAYNOW_STATEMENT_CODES = {"1": "PNC", "2": "PNE", "3": "PNP", "4": "PIS"}

_CCYYMMDD = re.compile(r"\d{8}")
_DIGITS = re.compile(r"\d+")
_MOBILE = re.compile(r"0\d{9}")


# --- NetCash's calendar -------------------------------------------------------------------------


def _is_public_holiday(day: date) -> bool:
    # NetCash knows the statutory calendar; the operator's extra holidays are our own setting.
    return day in _statutory_holidays(day.year)


def is_business_day(day: date) -> bool:
    """A TwoDay processing day: Monday-Friday, not a South African public holiday."""
    return day.weekday() < 5 and not _is_public_holiday(day)


def is_processing_day(day: date, instruction: str) -> bool:
    """Sameday debits also run on Saturdays; TwoDay only on business days."""
    if instruction == "Sameday":
        return day.weekday() < 6 and not _is_public_holiday(day)
    return is_business_day(day)


def first_action_date(instruction: str, now: datetime) -> date:
    """The earliest action date a batch uploaded at `now` may carry (cut-offs in SAST)."""
    now = now.astimezone(clock.BUSINESS_TZ)
    today = now.date()
    if instruction == "Sameday":
        day = today if now.time() < SAMEDAY_CUTOFF else today + timedelta(days=1)
        while not is_processing_day(day, instruction):
            day += timedelta(days=1)
        return day
    day, remaining = today, TWODAY_LEAD_BUSINESS_DAYS
    while remaining:
        day += timedelta(days=1)
        if is_business_day(day):
            remaining -= 1
    return day


def valid_action_date(day: date, instruction: str, now: datetime) -> bool:
    return day >= first_action_date(instruction, now) and is_processing_day(day, instruction)


def _parse_ccyymmdd(text: str) -> date | None:
    if not _CCYYMMDD.fullmatch(text or ""):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def _rands(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _mask(number: str) -> str:
    """NetCash's masked account number: first three and last digit shown (321*****7)."""
    if len(number) <= 4:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 4) + number[-1]


def _empty_state() -> dict:
    return {
        "counter": 0,
        "uploads": {},
        "batches": {},
        "mandates": {},
        "mandate_requests": {},
        "statements": {},
        "paynow_requests": {},
        "paynow_payments": [],
        "returns": {},
        "return_rate": None,
        "line_limit": str(DEFAULT_LINE_LIMIT),
        "daily_limit": str(DEFAULT_DAILY_LIMIT),
        "authorise_result": "000",
        "transaction_ids": {},
        "outcomes": {},
        "postbacks": [],
    }


class _Raw(str):
    """A method result that is already XML (a data contract), not text to escape."""


class NetcashSandbox:
    """NetCash on loopback: see the module docstring for what it checks and answers."""

    def __init__(self, context: SandboxContext):
        self.context = context
        self._lock = threading.RLock()
        self._state_path = context.state_file("netcash")
        self._state = _empty_state()
        self.not_ready_polls = 1
        self.ignore_errors = False
        self._failures: list[int] = []  # HTTP status of each coming failed SOAP call
        self._delays: list[float] = []
        self.calls: list[str] = []  # the SOAPAction method of every POST, in order
        self._load()
        self._methods = {
            "BatchFileUpload": self._batch_file_upload,
            "RequestFileUploadReport": self._request_file_upload_report,
            "RetrieveBatchStatus": self._retrieve_batch_status,
            "RequestBatchAuthorise": self._request_batch_authorise,
            "RequestActionDate": self._request_action_date,
            "GetDebitLimits": self._get_debit_limits,
            "AddMandate": self._add_mandate,
            "RequestMandateData": self._request_mandate_data,
            "RetrieveMandateData": self._retrieve_mandate_data,
            "RequestMerchantStatement": self._request_merchant_statement,
            "RetrieveMerchantStatement": self._retrieve_merchant_statement,
        }
        self.flask_app = self._build_app()
        self.wsgi_app = self.flask_app.wsgi_app

    # --- launcher contract ------------------------------------------------------------------

    def config(self, base_url: str) -> dict:
        return {
            "NETCASH_WS_URL": base_url + WS_PATH,
            "NETCASH_PAYNOW_URL": base_url + PAYNOW_PATH,
        }

    def reset(self) -> None:
        """Forget every batch, mandate, payment and setting (between tests)."""
        with self._lock:
            self._state = _empty_state()
            self.not_ready_polls = 1
            self.ignore_errors = False
            self._failures.clear()
            self._delays.clear()
            self.calls.clear()
            self._save()

    # --- state --------------------------------------------------------------------------------

    def _load(self) -> None:
        if self._state_path is None or not self._state_path.exists():
            return
        try:
            loaded = json.loads(self._state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("netcash sandbox: state file unreadable (%s); starting empty", error)
            return
        self._state = {**_empty_state(), **loaded}

    def _save(self) -> None:
        if self._state_path is None:
            return
        temporary = self._state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._state, separators=(",", ":")), encoding="utf-8")
        temporary.replace(self._state_path)

    def _next(self) -> int:
        self._state["counter"] += 1
        return self._state["counter"]

    def _new_id(self, kind: str) -> str:
        return str(uuid.uuid5(ID_NAMESPACE, f"{kind}-{self._next()}"))

    def _now(self) -> datetime:
        """The business clock's instant, in SAST (the clock tests and simulations pin)."""
        return clock.now().astimezone(clock.BUSINESS_TZ)

    def _today(self) -> date:
        return self.context.today()

    def _business_now(self) -> datetime:
        """Now, on the context's business date (which a test may set apart from the clock)."""
        now = self._now()
        today = self._today()
        if now.date() == today:
            return now
        return datetime.combine(today, time(9, 0), tzinfo=clock.BUSINESS_TZ)

    def _stamp(self) -> str:
        return self._business_now().strftime("%Y-%m-%d %H:%M:%S")

    def _transaction_id(self, key: str) -> str:
        ids = self._state["transaction_ids"]
        if key not in ids:
            ids[key] = str(100_000_000 + self._next())
        return ids[key]

    # --- test and demo controls ----------------------------------------------------------------

    @property
    def uploaded_batches(self) -> list[dict]:
        """Every upload in order: token, batch name, result, GUID, status, action date, lines."""
        with self._lock:
            uploads = []
            for token, upload in self._state["uploads"].items():
                batch = self._state["batches"].get(upload["batch_guid"] or "")
                uploads.append(
                    {
                        "token": token,
                        "batch_name": upload["batch_name"],
                        "result": upload["result"],
                        "report": upload["report"],
                        "file": upload["file"],
                        "batch_guid": upload["batch_guid"],
                        "status": self._batch_status(batch) if batch else None,
                        "action_date": date.fromisoformat(batch["action_date"]) if batch else None,
                        "lines": [dict(line) for line in batch["lines"]] if batch else [],
                    }
                )
            return uploads

    @property
    def mandates(self) -> list[dict]:
        """Every mandate asked for, in order, with its status ("pending", "signed", …)."""
        with self._lock:
            return [
                {
                    **mandate,
                    "token": token,
                    "status": MANDATE_STATUS_NAMES[mandate["status_code"]],
                }
                for token, mandate in self._state["mandates"].items()
            ]

    @property
    def postbacks(self) -> list[dict]:
        """Every postback sent to the app: kind, fields, and the HTTP status it answered."""
        with self._lock:
            return [dict(postback) for postback in self._state["postbacks"]]

    def set_return(self, reference: str, code: str = "02") -> None:
        """The next collection of this account or item reference comes back unpaid (`code`)."""
        code = f"{int(code):02d}"
        with self._lock:
            self._state["returns"][reference] = code
            self._save()

    def set_default_return_rate(self, fraction: float, seed: int = 0) -> None:
        """Return this share of collections (codes mostly 02), chosen by `seed`, not chance."""
        if not 0 <= fraction <= 1:
            raise ValueError("the return rate is a fraction between 0 and 1")
        with self._lock:
            self._state["return_rate"] = [fraction, seed] if fraction else None
            self._save()

    def set_limits(self, *, line: Decimal | None = None, daily: Decimal | None = None) -> None:
        """Change the profile's per-line and per-day debit limits (rands)."""
        with self._lock:
            if line is not None:
                self._state["line_limit"] = str(Decimal(line).quantize(Decimal("0.01")))
            if daily is not None:
                self._state["daily_limit"] = str(Decimal(daily).quantize(Decimal("0.01")))
            self._save()

    def set_authorise_result(self, code: str = "000") -> None:
        """What RequestBatchAuthorise answers: "000", or "322" with auto-authorisation off."""
        with self._lock:
            self._state["authorise_result"] = code
            self._save()

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next `count` SOAP calls fail with HTTP `status` (500: a WCF server fault)."""
        with self._lock:
            self._failures.extend([status] * count)

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """The next `count` SOAP calls wait `seconds` before answering."""
        with self._lock:
            self._delays.extend([seconds] * count)

    # --- SOAP transport -----------------------------------------------------------------------

    def _soap_endpoint(self):
        if request.method == "GET":
            return Response(
                "<html><body><h1>NIWS_NIF Service</h1><p>NetCash sandbox.</p></body></html>",
                mimetype="text/html",
            )
        action = (request.headers.get("SOAPAction") or "").strip().strip('"')
        method = action[len(ACTION_PREFIX) :] if action.startswith(ACTION_PREFIX) else ""
        with self._lock:
            self.calls.append(method or action)
            delay = self._delays.pop(0) if self._delays else 0
            failure = self._failures.pop(0) if self._failures else None
        if delay:
            wall_time.sleep(delay)
        if failure is not None:
            if failure == 500:
                return self._fault(
                    "s:Server",
                    "The server was unable to process the request due to an internal error.",
                    name="InternalServiceFault",
                )
            return Response("Service Unavailable", status=failure, mimetype="text/plain")
        if request.mimetype != "text/xml":
            return Response(
                f"Cannot process the message because the content type '{request.content_type}' "
                "was not the expected type 'text/xml; charset=utf-8'.",
                status=415,
                mimetype="text/plain",
            )
        handler = self._methods.get(method)
        if handler is None:
            return self._fault(
                "a:ActionNotSupported",
                f"The message with Action '{action}' cannot be processed at the receiver, due "
                "to a ContractFilter mismatch at the EndpointDispatcher.",
            )
        try:
            payload = soap_body(request.get_data())
        except ProviderError as error:
            return self._fault("s:Client", f"The message could not be read: {error}")
        if payload.tag != f"{{{TEMPURI}}}{method}":
            return self._fault(
                "s:Client",
                f"Expecting element '{method}' from namespace '{TEMPURI}', "
                f"found '{local_name(payload)}'.",
            )
        params = {local_name(child): (child.text or "") for child in payload}
        with self._lock:
            result = handler(params)
            if method not in READ_ONLY_METHODS:
                self._save()
        log.info("netcash sandbox %s -> %s", method, result if len(result) == 3 else "data")
        if isinstance(result, _Raw):
            opening = f'<{method}Result xmlns:a="{DATA_CONTRACT_NS}" xmlns:i="{XSI_NS}">'
            inner = result
        else:
            opening, inner = f"<{method}Result>", xml_text(result)
        body = (
            f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body>'
            f'<{method}Response xmlns="{TEMPURI}">{opening}{inner}</{method}Result>'
            f"</{method}Response></s:Body></s:Envelope>"
        )
        return Response(body, content_type="text/xml; charset=utf-8")

    @staticmethod
    def _fault(code: str, message: str, *, name: str | None = None) -> Response:
        detail = f"<detail><{name} /></detail>" if name else ""
        body = (
            f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><s:Fault>'
            f'<faultcode xmlns:a="http://schemas.microsoft.com/ws/2005/05/addressing/none">'
            f"{code}</faultcode>"
            f'<faultstring xml:lang="en-ZA">{xml_text(message)}</faultstring>{detail}'
            "</s:Fault></s:Body></s:Envelope>"
        )
        return Response(body, status=500, content_type="text/xml; charset=utf-8")

    def _key_error(self, params: dict, service: str) -> str | None:
        """None when the ServiceKey is this service's; 311 for another of ours; else 100."""
        credentials = self.context.credentials
        wanted = credentials[
            "NETCASH_ACCOUNT_SERVICE_KEY"
            if service == "account"
            else "NETCASH_DEBIT_ORDER_SERVICE_KEY"
        ]
        given = params.get("ServiceKey", "").strip()
        if given == wanted:
            return None
        ours = {
            credentials.get("NETCASH_ACCOUNT_SERVICE_KEY"),
            credentials.get("NETCASH_DEBIT_ORDER_SERVICE_KEY"),
            credentials.get("NETCASH_PAYNOW_SERVICE_KEY"),
        }
        return "311" if given in ours else "100"

    # --- debit-order batches --------------------------------------------------------------------

    def _batch_file_upload(self, params: dict) -> str:
        if error := self._key_error(params, "debit"):
            return error
        text = params.get("File", "")
        if not text.strip():
            return "200"
        token = f"{self._today():%Y%m%d}.{self._next():010d}.0483.2.2"
        batch_name, result, report, batch = self._load_batch(text)
        guid = None
        if batch is not None:
            guid = self._new_id("batch")
            self._state["batches"][guid] = batch
        self._state["uploads"][token] = {
            "polls": 0,
            "batch_name": batch_name,
            "result": result,
            "report": report,
            "file": text,
            "batch_guid": guid,
        }
        return token

    def _load_batch(self, text: str) -> tuple[str, str, str, dict | None]:
        """Validate a batch file: (batch name, result, load report text, batch or None)."""
        file_errors: list[str] = []
        line_errors: list[tuple[str, int, str]] = []
        batch_name = ""
        lines: list[dict] = []
        action_date = None
        instruction = ""
        try:
            parsed = parse_batch_file(text)
        except BatchFileError as error:
            first = text.replace("\r", "\n").split("\n", 1)[0].split("\t")
            batch_name = first[4] if len(first) > 4 else ""
            file_errors.append(str(error))
            parsed = None
        if parsed is not None:
            batch_name = parsed.batch_name
            instruction = parsed.instruction
            file_errors += self._header_errors(parsed)
            action_date = _parse_ccyymmdd(parsed.action_date_text)
            for field_id in ("101", "102", "131", "132", "133", "134", "136", "162"):
                if field_id not in parsed.key:
                    file_errors.append(f"Key record does not contain field {field_id}")
            if len(set(parsed.key)) != len(parsed.key):
                file_errors.append("Key record contains a field more than once")
            line_limit_cents = int(Decimal(self._state["line_limit"]) * 100)
            total = 0
            for record in parsed.transactions:
                reference = record.get("101")
                problems = self._line_errors(record, line_limit_cents)
                line_errors += [(reference, record.line_number, p) for p in problems]
                amount = record.get("162")
                if _DIGITS.fullmatch(amount):
                    total += int(amount)
                if not problems:
                    lines.append(
                        {
                            "line": record.line_number,
                            "account_reference": reference,
                            "account_name": record.get("102"),
                            "amount_cents": int(amount),
                            "item_reference": record.get("301") or None,
                        }
                    )
            footer = parsed.footer
            if len(footer) != 4 or footer[3].strip() != "9999":
                file_errors.append("Footer record is not valid (F, count, total, 9999)")
            else:
                if footer[1].strip() != str(len(parsed.transactions)):
                    file_errors.append(
                        "Footer record count does not match the number of transactions"
                    )
                if footer[2].strip() != str(total):
                    file_errors.append("Footer total does not match the sum of the amounts")
            if not parsed.transactions:
                file_errors.append("The file contains no transactions")
        loaded = not file_errors and (not line_errors or (self.ignore_errors and lines))
        if not (file_errors or line_errors):
            result = "SUCCESSFUL"
        elif loaded:
            result = "SUCCESSFUL WITH ERRORS"
        else:
            result = "UNSUCCESSFUL"
        moment = self._business_now().strftime("%I:%M %p")
        report = [f"###BEGIN\t{batch_name}\t{result}\t{moment}"]
        report += [
            f"{reference}\tLine :{number}\t{message}" for reference, number, message in line_errors
        ]
        report += [f"###ERROR\t{message}" for message in file_errors]
        report.append(f"###END\t{moment}")
        batch = None
        if loaded:
            batch = {
                "name": batch_name,
                "instruction": instruction,
                "action_date": action_date.isoformat(),
                "status": 1,
                "created": self._stamp(),
                "authorised": None,
                "lines": lines,
            }
        return batch_name, result, "\r\n".join(report) + "\r\n", batch

    def _header_errors(self, parsed) -> list[str]:
        errors = []
        if len(parsed.header) != 7:
            errors.append("Header record must have 7 fields")
        if parsed.service_key != self.context.credentials["NETCASH_DEBIT_ORDER_SERVICE_KEY"]:
            errors.append("Service key in the header is not valid for this service")
        if parsed.version != "1":
            errors.append("Header version must be 1")
        if parsed.instruction not in ("TwoDay", "Sameday"):
            errors.append(f"Instruction '{parsed.instruction}' is not valid for this service")
        if not parsed.batch_name.strip():
            errors.append("Batch name is required")
        if not parsed.vendor_key.strip():
            errors.append("Software vendor key is required")
        action_date = _parse_ccyymmdd(parsed.action_date_text)
        if action_date is None:
            errors.append("Action date is not a valid date (CCYYMMDD)")
        elif parsed.instruction in ("TwoDay", "Sameday") and not valid_action_date(
            action_date, parsed.instruction, self._business_now()
        ):
            errors.append("Action date is not valid for this instruction")
        return errors

    @staticmethod
    def _line_errors(record, line_limit_cents: int) -> list[str]:
        if not record.fits_key:
            return ["Number of fields does not match the key record"]
        problems = []
        if not 2 <= len(record.get("101")) <= 22:
            problems.append("Account reference must be between 2 and 22 characters")
        if not record.get("102").strip():
            problems.append("Account name is required")
        if record.get("131") != "1":
            problems.append("Banking detail type is not valid (1 bank account)")
        if not record.get("132").strip():
            problems.append("Account holder name is required")
        if record.get("133") not in ("1", "2", "3"):
            problems.append("Bank account type is not valid")
        branch = record.get("134")
        if not (len(branch) == 6 and _DIGITS.fullmatch(branch)):
            problems.append("Branch code is not valid")
        if not _DIGITS.fullmatch(record.get("136")):
            problems.append("Bank account number is not valid")
        amount = record.get("162")
        if not _DIGITS.fullmatch(amount) or int(amount) <= 0:
            problems.append("Amount is not valid (whole cents)")
        elif int(amount) > line_limit_cents:
            problems.append(f"Amount exceeds the line limit of R{_rands(line_limit_cents)}")
        return problems

    def _request_file_upload_report(self, params: dict) -> str:
        if error := self._key_error(params, "debit"):
            return error
        upload = self._state["uploads"].get(params.get("FileToken", "").strip())
        if upload is None:
            return "202"
        if upload["polls"] < self.not_ready_polls:
            upload["polls"] += 1
            return "FILE NOT READY"
        return upload["report"]

    def _batch_status(self, batch: dict) -> int:
        """Authorised batches are processed from their action date on."""
        if batch["status"] == 2 and self._today() >= date.fromisoformat(batch["action_date"]):
            return 4
        return batch["status"]

    def _retrieve_batch_status(self, params: dict) -> str:
        if error := self._key_error(params, "debit"):
            return error
        key = params["ServiceKey"].strip()
        rows = []
        for guid, batch in list(self._state["batches"].items())[-10:][::-1]:
            value = sum(line["amount_cents"] for line in batch["lines"])
            rows.append(
                "\t".join(
                    [
                        key,
                        guid,
                        batch["name"],
                        str(self._batch_status(batch)),
                        str(len(batch["lines"])),
                        _rands(value),
                        batch["created"],
                        batch["authorised"] or NEVER,
                        NEVER,
                    ]
                )
            )
        return "\r\n".join(rows)

    def _request_batch_authorise(self, params: dict) -> str:
        if error := self._key_error(params, "debit"):
            return error
        batch = self._state["batches"].get(params.get("BatchIndicator", "").strip())
        if batch is None:
            return "317"
        if batch["status"] != 1:
            return "000"  # already released: authorising again changes nothing
        if self._today() >= date.fromisoformat(batch["action_date"]):
            return "200"  # too late: the bank run of that date has gone
        if self._state["authorise_result"] != "000":
            return self._state["authorise_result"]
        daily_limit = int(Decimal(self._state["daily_limit"]) * 100)
        same_day = sum(
            line["amount_cents"]
            for other in self._state["batches"].values()
            if other["status"] == 2 and other["action_date"] == batch["action_date"]
            for line in other["lines"]
        )
        if same_day + sum(line["amount_cents"] for line in batch["lines"]) > daily_limit:
            return "319"
        batch["status"] = 2
        batch["authorised"] = self._stamp()
        return "000"

    def _request_action_date(self, params: dict) -> str:
        if error := self._key_error(params, "debit"):
            return error
        day = _parse_ccyymmdd(params.get("Date", "").strip())
        if day is None:
            return "101"
        instruction = params.get("Instruction", "").strip()
        if instruction not in ("TwoDay", "Sameday"):
            return "200"
        now = self._business_now()
        if params.get("ForwardActionDate", "").strip().lower() in ("1", "true"):
            day = max(day, first_action_date(instruction, now))
            while not is_processing_day(day, instruction):
                day += timedelta(days=1)
            return day.strftime("%Y%m%d")
        return day.strftime("%Y%m%d") if valid_action_date(day, instruction, now) else "200"

    def _get_debit_limits(self, params: dict) -> str:
        code = self._key_error(params, "debit") or "000"
        line = self._state["line_limit"] if code == "000" else "0.00"
        daily = self._state["daily_limit"] if code == "000" else "0.00"
        return _Raw(
            f"<a:Errors><a:ErrorCode>{code}</a:ErrorCode></a:Errors>"
            f"<a:Limits><a:DailyLimit>{daily}</a:DailyLimit>"
            f"<a:LineLimit>{line}</a:LineLimit></a:Limits>"
        )

    # --- eMandates ------------------------------------------------------------------------------

    @staticmethod
    def _mandate_result(code: str, url: str = "", errors=(), warnings=()) -> str:
        """AddMandateResult as WCF serialises it (data-contract members in name order)."""

        def strings(name, values):
            items = "".join(f"<b:string>{xml_text(value)}</b:string>" for value in values)
            return f'<a:{name} xmlns:b="{ARRAYS_NS}">{items}</a:{name}>'

        if url:
            mandate_url = f"<a:MandateUrl>{xml_text(url)}</a:MandateUrl>"
        else:
            mandate_url = '<a:MandateUrl i:nil="true"/>'
        return _Raw(
            f"<a:ErrorCode>{code}</a:ErrorCode>"
            + strings("Errors", errors)
            + mandate_url
            + strings("Warnings", warnings)
        )

    def _add_mandate(self, params: dict) -> str:
        if error := self._key_error(params, "debit"):
            return self._mandate_result(error, errors=["Authentication failed"])
        errors, warnings, mandate = self._mandate_from(params)
        if errors:
            return self._mandate_result("203", errors=errors, warnings=warnings)
        for other in self._state["mandates"].values():
            # One mandate per account reference: a new request replaces one still unsigned.
            if (
                other["account_reference"] == mandate["account_reference"]
                and other["status_code"] == MANDATE_AWAITING
            ):
                other["status_code"] = MANDATE_EXPIRED
        token = uuid.UUID(self._new_id("mandate")).hex
        mandate["url"] = f"{request.host_url}mandate/{token}"
        self._state["mandates"][token] = mandate
        return self._mandate_result("000", url=mandate["url"], warnings=warnings)

    def _mandate_from(self, params: dict) -> tuple[list[str], list[str], dict]:
        """Check AddMandate's parameters as NetCash does; (errors, warnings, mandate)."""
        value = {name: (text or "").strip() for name, text in params.items()}
        errors, warnings = [], []
        reference = value.get("AccountReference", "")
        if not 2 <= len(reference) <= 22:
            errors.append("AccountReference must be between 2 and 22 characters")
        name = value.get("MandateName", "")
        if not name:
            errors.append("MandateName is required")
        elif len(name) > 50:
            warnings.append("MandateName was truncated to 50 characters")
            name = name[:50]
        try:
            amount = Decimal(value.get("MandateAmount", ""))
            if not amount.is_finite() or amount <= 0:
                raise InvalidOperation
        except InvalidOperation:
            errors.append("MandateAmount must be a positive amount")
            amount = Decimal("0")
        consumer = value.get("IsConsumer", "").lower()
        if consumer not in ("true", "false"):
            errors.append("IsConsumer is required")
        if consumer == "true":
            for field in ("FirstName", "Surname"):
                if not value.get(field):
                    errors.append(f"{field} is required for a consumer mandate")
        elif consumer == "false":
            for field in ("TradingName", "RegistrationNumber", "RegisteredName"):
                if not value.get(field):
                    errors.append(f"{field} is required for a business mandate")
        if not _MOBILE.fullmatch(value.get("MobileNumber", "")):
            errors.append("MobileNumber must be 10 digits starting with 0")
        if value.get("DebitFrequency") not in DEBIT_FREQUENCIES:
            errors.append("DebitFrequency is not valid")
        month = value.get("CommencementMonth", "")
        if not (month.isdigit() and 1 <= int(month) <= 12):
            errors.append("CommencementMonth must be 1-12")
        day = value.get("CommencementDay", "")
        if day != "LDOM" and not (len(day) == 2 and day.isdigit() and 1 <= int(day) <= 31):
            errors.append("CommencementDay must be 01-31 or LDOM")
        agreement_date = _parse_ccyymmdd(value.get("AgreementDate", ""))
        if agreement_date is None:
            errors.append("AgreementDate must be a date (CCYYMMDD)")
        if value.get("PublicHolidayOption") not in HOLIDAY_OPTIONS:
            errors.append("PublicHolidayOption is not valid")
        if value.get("BankDetailType", "1") != "1":
            errors.append("BankDetailType must be 1 (bank account) on this profile")
        if not value.get("BankAccountName"):
            errors.append("BankAccountName is required")
        account_number = value.get("BankAccountNumber", "")
        if not (_DIGITS.fullmatch(account_number) and len(account_number) <= 16):
            errors.append("BankAccountNumber is not valid")
        branch = value.get("BranchCode", "")
        if not (len(branch) == 6 and branch.isdigit()):
            errors.append("BranchCode must be 6 digits")
        if value.get("BankAccountType") not in BANK_ACCOUNT_TYPES:
            errors.append("BankAccountType must be Current, Savings or Transmission")
        if value.get("IncludeDebiCheck", "").lower() not in ("true", "false"):
            errors.append("IncludeDebiCheck is required")
        email = value.get("EmailAddress", "")
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            errors.append("EmailAddress is not valid")
        mandate = {
            "account_reference": reference,
            "mandate_name": name,
            "amount": f"{amount:.2f}",
            "is_consumer": consumer == "true",
            "first_name": value.get("FirstName", ""),
            "surname": value.get("Surname", ""),
            "trading_name": value.get("TradingName", ""),
            "registration_number": value.get("RegistrationNumber", ""),
            "registered_name": value.get("RegisteredName", ""),
            "mobile_number": value.get("MobileNumber", ""),
            "email": email,
            "debit_frequency": value.get("DebitFrequency", ""),
            "commencement_month": month,
            "debit_day": day,
            "agreement_date": value.get("AgreementDate", ""),
            "agreement_reference": value.get("AgreementReferenceNumber", ""),
            "public_holiday_option": value.get("PublicHolidayOption", ""),
            "bank_account_name": value.get("BankAccountName", ""),
            "bank_account_number": account_number,
            "branch_code": branch,
            "bank_account_type": value.get("BankAccountType", ""),
            "fields": {f"Field{n}": value.get(f"Field{n}", "") for n in range(1, 10)},
            "status_code": MANDATE_AWAITING,
            "reference_number": "",
            "decline_reason": "",
            "requested_on": self._stamp(),
            "signed_on": None,
        }
        return errors, warnings, mandate

    def _request_mandate_data(self, params: dict) -> str:
        if error := self._key_error(params, "debit"):
            return error
        token = f"M{self._today():%Y%m%d}.{self._next():010d}"
        self._state["mandate_requests"][token] = {"polls": 0}
        return token

    def _retrieve_mandate_data(self, params: dict) -> str:
        if error := self._key_error(params, "debit"):
            return error
        poll = self._state["mandate_requests"].get(params.get("FileToken", "").strip())
        if poll is None:
            return "202"
        if poll["polls"] < self.not_ready_polls:
            poll["polls"] += 1
            return "FILE NOT READY"
        latest = {}
        for mandate in self._state["mandates"].values():
            latest[mandate["account_reference"]] = mandate
        lines = [f"###BEGIN\t{self._today():%Y%m%d}"]
        for mandate in latest.values():
            name = mandate["mandate_name"]
            lines.append(
                "\t".join(
                    [
                        str(mandate["status_code"]),
                        mandate["account_reference"],
                        name,
                        mandate["amount"],
                        "1" if mandate["is_consumer"] else "0",
                        mandate["first_name"],
                        mandate["surname"],
                    ]
                )
            )
        lines.append("###END")
        return "\r\n".join(lines) + "\r\n"

    def _mandate_token(self, mandate_url_or_token: str) -> str:
        token = urlsplit(mandate_url_or_token).path.rstrip("/").rsplit("/", 1)[-1]
        if token not in self._state["mandates"]:
            raise LookupError(f"the NetCash sandbox has no mandate {mandate_url_or_token!r}")
        return token

    def sign_mandate(
        self, mandate_url_or_token: str, accept: bool = True, reason: str = ""
    ) -> int | None:
        """What the signing page's buttons do: sign (or decline) and POST the postback.

        Returns the HTTP status the app answered (None when it could not be reached).
        """
        with self._lock:
            token = self._mandate_token(mandate_url_or_token)
            mandate = self._state["mandates"][token]
            if mandate["status_code"] != MANDATE_AWAITING:
                raise ValueError(
                    f"mandate {token} is {MANDATE_STATUS_NAMES[mandate['status_code']]}, "
                    "not awaiting a signature"
                )
            if accept:
                mandate["status_code"] = MANDATE_ACCEPTED
                mandate["reference_number"] = f"NCM{self._next():08d}"
                mandate["signed_on"] = self._stamp()
            else:
                mandate["status_code"] = MANDATE_DECLINED
                mandate["decline_reason"] = reason or "Declined by the account holder"
            fields = self._mandate_postback(token, mandate)
            self._save()
        return self._post("emandate", fields)

    def _mandate_postback(self, token: str, mandate: dict) -> dict[str, str]:
        """The §1.11 form fields of a signed or declined mandate."""
        accepted = mandate["status_code"] == MANDATE_ACCEPTED
        url = mandate["url"]
        return {
            "MandateSuccessful": "1" if accepted else "0",
            "IsDeclined": "0" if accepted else "1",
            "ReasonForDecline": "" if accepted else mandate["decline_reason"],
            "MandateStatus": str(mandate["status_code"]),
            "IsActive": "True" if accepted else "False",
            "IsValid": "True",
            "IsFromWebService": "True",
            "AccountRef": mandate["account_reference"],
            "AccountName": mandate["mandate_name"],
            "MandateReferenceNumber": mandate["reference_number"],
            "DefaultAmount": str(int(Decimal(mandate["amount"]) * 100)),
            "AllowVariableAmounts": "True",
            "AgreementDate": mandate["agreement_date"],
            "DebitDay": mandate["debit_day"],
            "DebitOnLastDay": "True" if mandate["debit_day"] == "LDOM" else "False",
            "LuMandatePublicHolidayOptionId": str(
                HOLIDAY_OPTIONS.index(mandate["public_holiday_option"]) + 1
            ),
            "MandateDebitFrequencyId": str(DEBIT_FREQUENCIES.index(mandate["debit_frequency"]) + 1),
            "MandatePDFLink": f"{url}/pdf" if accepted else "",
            "CompTradingName": mandate["trading_name"],
            "CompRegName": mandate["registered_name"],
            "CompRegNo": mandate["registration_number"],
            "FirstName": mandate["first_name"],
            "LastName": mandate["surname"],
            "Email": mandate["email"],
            "CellNo": mandate["mobile_number"],
            "IsCreditCard": "False",
            "BankName": BRANCH_BANKS.get(mandate["branch_code"], "Other"),
            "BankAccountName": mandate["bank_account_name"],
            "BankAccountNo": _mask(mandate["bank_account_number"]),
            "BranchCode": mandate["branch_code"],
            "BankAccountType": mandate["bank_account_type"],
            "SignBy_FirstName": mandate["first_name"],
            "SignBy_LastName": mandate["surname"],
            "SignBy_Email": mandate["email"],
            "SignBy_CellNo": mandate["mobile_number"],
            **mandate["fields"],
        }

    # --- postbacks --------------------------------------------------------------------------------

    def _post(self, kind: str, fields: dict[str, str]) -> int | None:
        """POST a form postback to the app (outside the lock) and record what it answered."""
        secret = quote(self.context.credentials.get("NETCASH_WEBHOOK_SECRET", ""), safe="")
        url = f"{self.context.app_base_url}/api/webhooks/netcash/{kind}?key={secret}"
        try:
            with httpx.Client(timeout=15) as http:
                status = http.post(url, data=fields).status_code
        except httpx.HTTPError as error:
            log.warning("netcash sandbox: %s postback not delivered (%s)", kind, error)
            status = None
        with self._lock:
            self._state["postbacks"].append({"kind": kind, "fields": fields, "status": status})
            del self._state["postbacks"][:-200]  # keep the recent ones only
            self._save()
        return status

    def resend_postback(self, index: int = -1) -> int | None:
        """Send a postback again, as NetCash does when it thinks the first was lost."""
        with self._lock:
            postback = self._state["postbacks"][index]
        return self._post(postback["kind"], dict(postback["fields"]))

    # --- statement --------------------------------------------------------------------------------

    def _outcome(self, guid: str, index: int, line: dict, action_date: date) -> str | None:
        """The unpaid code of a collection (None: paid), fixed the first time it is asked."""
        key = f"{guid}:{index}"
        outcomes = self._state["outcomes"]
        if key in outcomes:
            return outcomes[key]
        returns = self._state["returns"]
        code = None
        for reference in (line.get("item_reference"), line["account_reference"]):
            if reference and reference in returns:
                code = returns.pop(reference)
                break
        rate = self._state["return_rate"]
        if code is None and rate:
            fraction, seed = rate
            digest = hashlib.sha256(f"{seed}:{action_date}:{guid}:{index}".encode()).digest()
            if int.from_bytes(digest[:4]) / 2**32 < fraction:
                code = RANDOM_RETURN_CODES[digest[4] % len(RANDOM_RETURN_CODES)]
        outcomes[key] = code
        return code

    def _day_entries(self, day: date) -> list[list[str]]:
        """Transaction lines of one day: collections of authorised batches, Pay Now payments."""
        entries = []
        for guid, batch in self._state["batches"].items():
            if batch["status"] != 2 or batch["action_date"] != day.isoformat():
                continue
            for index, line in enumerate(batch["lines"]):
                code = self._outcome(guid, index, line, day)
                amount = _rands(line["amount_cents"])
                transaction_id = self._transaction_id(f"{guid}:{index}")
                if code is None:
                    kind, sign = "TDD", "+"
                    description = f"{line['account_name']} {line['account_reference']}"
                else:
                    kind, sign = "DRU", "-"
                    description = f"Unpaid Code {code} {UNPAID_REASONS.get(code, 'Unpaid')}"
                entries.append(
                    [
                        f"{day:%Y%m%d}",
                        kind,
                        transaction_id,
                        description[:100],
                        amount,
                        sign,
                        "0.00",
                        line.get("item_reference") or "",
                        line["account_reference"],
                    ]
                )
        for payment in self._state["paynow_payments"]:
            if payment["date"] != day.isoformat():
                continue
            entries.append(
                [
                    f"{day:%Y%m%d}",
                    PAYNOW_STATEMENT_CODES.get(payment["method"], "PNC"),
                    self._transaction_id(f"pn:{payment['trace']}"),
                    f"{payment['reference']} {payment['description']}".strip()[:100],
                    payment["amount"],
                    "+",
                    "0.00",
                    payment["extra1"],
                    payment["extra2"],
                ]
            )
        return entries

    def _credits_before(self, day: date) -> Decimal:
        """Money received before `day` (the opening balance).

        Collections are settled in action-date order, so a return set for an account hits
        its earliest unsettled collection whichever statement is asked for first.
        """
        earlier = sorted(
            (
                (date.fromisoformat(batch["action_date"]), guid, batch)
                for guid, batch in self._state["batches"].items()
                if batch["status"] == 2 and batch["action_date"] < day.isoformat()
            ),
            key=lambda item: item[0],
        )
        cents = 0
        for action_date, guid, batch in earlier:
            for index, line in enumerate(batch["lines"]):
                if self._outcome(guid, index, line, action_date) is None:
                    cents += line["amount_cents"]
        total = Decimal(cents) / 100
        for payment in self._state["paynow_payments"]:
            if payment["date"] < day.isoformat():
                total += Decimal(payment["amount"])
        return total.quantize(Decimal("0.01"))

    def statement_text(self, day: date) -> str | None:
        """The statement of one day, or None when nothing happened on it (NO CHANGE)."""
        with self._lock:
            opening = self._credits_before(day)
            entries = self._day_entries(day)
            if not entries:
                return None
            closing = opening + sum(
                (Decimal(entry[4]) for entry in entries if entry[5] == "+"), Decimal("0.00")
            )
            stamp = f"{day:%Y%m%d}"
            balance = [stamp, "OBL", self._transaction_id(f"OBL:{day}"), "Opening balance"]
            lines = [[*balance, f"{opening:.2f}", "+", "0.00", "", ""], *entries]
            lines.append(
                [
                    stamp,
                    "CBL",
                    self._transaction_id(f"CBL:{day}"),
                    "Closing balance",
                    f"{closing:.2f}",
                    "+",
                    "0.00",
                    "",
                    "",
                ]  # fmt: skip
            )
            return "\r\n".join("\t".join(line) for line in lines) + "\r\n"

    def _request_merchant_statement(self, params: dict) -> str:
        if error := self._key_error(params, "account"):
            return error
        day = _parse_ccyymmdd(params.get("FromActionDate", "").strip())
        if day is None:
            return "101"
        if day > self._today():
            return "102"  # no statement for a day that has not happened yet
        polling_id = self._new_id("statement")
        self._state["statements"][polling_id] = {"date": day.isoformat(), "polls": 0}
        return polling_id

    def _retrieve_merchant_statement(self, params: dict) -> str:
        if error := self._key_error(params, "account"):
            return error
        poll = self._state["statements"].get(params.get("PollingId", "").strip())
        if poll is None:
            return "200"
        if poll["polls"] < self.not_ready_polls:
            poll["polls"] += 1
            return "FILE NOT READY"
        return self.statement_text(date.fromisoformat(poll["date"])) or "NO CHANGE"

    # --- Pay Now ----------------------------------------------------------------------------------

    def open_pay_now(self, form: dict[str, str]) -> dict:
        """What the payer's browser does first: POST the Pay Now form; returns the request."""
        fields = {key: (str(value) if value is not None else "") for key, value in form.items()}
        if fields.get("m1", "").strip() != self.context.credentials["NETCASH_PAYNOW_SERVICE_KEY"]:
            raise ValueError("The Pay Now service key (m1) is not valid")
        reference = fields.get("p2", "").strip()
        if not reference:
            raise ValueError("The transaction reference (p2) is required")
        try:
            amount = Decimal(fields.get("p4", "").strip())
            if not amount.is_finite() or amount <= 0:
                raise InvalidOperation
        except InvalidOperation:
            raise ValueError("The amount (p4) is not valid") from None
        with self._lock:
            previous = self._state["paynow_requests"].get(reference)
            if previous and previous.get("paid"):
                raise ValueError("This transaction has already been processed")
            record = {
                "reference": reference,
                "description": fields.get("p3", "").strip(),
                "amount": f"{amount:.2f}",
                "extra1": fields.get("m4", ""),
                "extra2": fields.get("m5", ""),
                "extra3": fields.get("m6", ""),
                "email": fields.get("m9", ""),
                "mobile": fields.get("m11", ""),
                "paid": False,
            }
            self._state["paynow_requests"][reference] = record
            self._save()
            return dict(record)

    def pay_now(
        self,
        reference: str,
        *,
        amount: Decimal | None = None,
        accepted: bool = True,
        method: str = "1",
        reason: str | None = None,
        form: dict[str, str] | None = None,
    ) -> int | None:
        """What a payer does on the Pay Now page: pay (or be declined) and notify the app.

        The request must have been opened first (the form POSTed to the Pay Now URL, or
        passed here as `form`); a paid request cannot be paid again (`resend_postback`
        replays a notify). `amount` overrides what is reported as paid. Returns the HTTP
        status the app answered (None when it could not be reached).
        """
        if form is not None:
            self.open_pay_now(form)
        with self._lock:
            payment_request = self._state["paynow_requests"].get(reference)
            if payment_request is None:
                raise LookupError(
                    f"no Pay Now request {reference!r}: POST its form to {PAYNOW_PATH} first"
                )
            if payment_request["paid"]:
                raise ValueError(
                    f"Pay Now request {reference!r} is already paid; "
                    "use resend_postback() to replay its notify"
                )
            paid = Decimal(amount if amount is not None else payment_request["amount"])
            trace = self._new_id("trace")
            reason = reason or ("Success" if accepted else "Transaction declined")
            fields = {
                "TransactionAccepted": "true" if accepted else "false",
                "CardHolderIpAddr": "127.0.0.1",
                "RequestTrace": trace,
                "Reference": reference,
                "Extra1": payment_request["extra1"],
                "Extra2": payment_request["extra2"],
                "Extra3": payment_request["extra3"],
                "Amount": f"{paid:.2f}",
                "Method": str(method),
                "Reason": reason,
            }
            if accepted and reason == "Success":
                payment_request["paid"] = True
                self._state["paynow_payments"].append(
                    {
                        "trace": trace,
                        "reference": reference,
                        "description": payment_request["description"],
                        "amount": f"{paid:.2f}",
                        "date": self._today().isoformat(),
                        "method": str(method),
                        "extra1": payment_request["extra1"],
                        "extra2": payment_request["extra2"],
                    }
                )
            self._save()
        return self._post("paynow", fields)

    # --- the web app ------------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask(__name__, template_folder=str(TEMPLATES))
        app.add_url_rule(WS_PATH, "soap", self._soap_endpoint, methods=["GET", "POST"])
        app.add_url_rule(
            WS_PATH.lower(), "soap_lower", self._soap_endpoint, methods=["GET", "POST"]
        )
        app.add_url_rule("/mandate/<token>", "mandate", self._mandate_page, methods=["GET", "POST"])
        app.add_url_rule("/mandate/<token>/pdf", "mandate_document", self._mandate_document)
        app.add_url_rule(PAYNOW_PATH, "paynow", self._paynow_page, methods=["GET", "POST"])
        app.add_url_rule(
            "/site/paynow/complete", "paynow_complete", self._paynow_complete, methods=["POST"]
        )
        app.add_url_rule("/_sandbox/state", "state", self._control_state)
        app.add_url_rule("/_sandbox/<action>", "control", self._control, methods=["POST"])
        app.add_url_rule(
            "/_sandbox/mandates/<token>/sign", "control_sign", self._control_sign, methods=["POST"]
        )
        app.add_url_rule(
            "/_sandbox/paynow/<reference>", "control_pay", self._control_pay, methods=["POST"]
        )
        return app

    def _mandate_view(self, token: str) -> dict:
        with self._lock:
            mandate = self._state["mandates"].get(token)
            if mandate is None:
                abort(404)
            return {
                **mandate,
                "token": token,
                "status": MANDATE_STATUS_NAMES[mandate["status_code"]],
                "masked_account": _mask(mandate["bank_account_number"]),
                "bank_name": BRANCH_BANKS.get(mandate["branch_code"], "Other"),
            }

    def _mandate_page(self, token: str):
        """GET shows the mandate to sign; POST signs or declines it and notifies the merchant."""
        mandate = self._mandate_view(token)
        if request.method == "GET":
            return render_template("netcash_mandate.html", mandate=mandate)
        accept = request.form.get("action") == "sign"
        try:
            status = self.sign_mandate(token, accept=accept, reason=request.form.get("reason", ""))
        except ValueError as error:
            return render_template(
                "netcash_result.html", title="Mandate", message=str(error), status=None
            ), 409
        message = "Mandate signed." if accept else "Mandate declined."
        return render_template(
            "netcash_result.html", title="Debit order mandate", message=message, status=status
        )

    def _mandate_document(self, token: str):
        mandate = self._mandate_view(token)
        if mandate["status_code"] != MANDATE_ACCEPTED:
            abort(404)
        return render_template("netcash_mandate.html", mandate=mandate, document=True)

    def _paynow_page(self):
        """The hosted payment page: the merchant's form in, a "Pay R x" page out."""
        form = request.values.to_dict()
        try:
            payment_request = self.open_pay_now(form)
        except ValueError as error:
            return render_template(
                "netcash_result.html", title="Pay Now", message=str(error), status=None
            ), 400
        return render_template("netcash_paynow.html", payment=payment_request)

    def _paynow_complete(self):
        reference = request.form.get("p2", "")
        outcome = request.form.get("outcome", "pay")
        method = request.form.get("method", "1")
        reasons = {
            "pay": "Success",
            "decline": "Transaction declined",
            "cancel": "Cancelled by user",
        }
        try:
            status = self.pay_now(
                reference,
                accepted=outcome == "pay",
                method=method,
                reason=reasons.get(outcome, "Transaction declined"),
            )
        except LookupError as error:
            return render_template(
                "netcash_result.html", title="Pay Now", message=str(error), status=None
            ), 404
        message = {
            "pay": "Payment successful.",
            "decline": "Payment declined.",
            "cancel": "Payment cancelled.",
        }.get(outcome, "Payment declined.")
        return render_template(
            "netcash_result.html",
            title="Pay Now",
            message=message,
            status=status,
            return_url=self.context.app_base_url + "/",
        )

    def _control_state(self):
        return jsonify(
            {
                "batches": self.uploaded_batches,
                "mandates": self.mandates,
                "postbacks": self.postbacks,
            }
        )

    def _control(self, action: str):
        """Steer the sandbox over HTTP (demo and browser tests)."""
        body = request.get_json(silent=True) or {}
        if action == "reset":
            self.reset()
        elif action == "returns":
            self.set_return(body["reference"], str(body.get("code", "02")))
        elif action == "return-rate":
            self.set_default_return_rate(float(body["fraction"]), int(body.get("seed", 0)))
        elif action == "limits":
            self.set_limits(
                line=Decimal(str(body["line"])) if "line" in body else None,
                daily=Decimal(str(body["daily"])) if "daily" in body else None,
            )
        elif action == "authorise-result":
            self.set_authorise_result(str(body.get("code", "000")))
        elif action == "fail-next":
            self.fail_next(int(body.get("count", 1)), int(body.get("status", 500)))
        else:
            abort(404)
        return jsonify({"ok": True})

    def _control_sign(self, token: str):
        body = request.get_json(silent=True) or {}
        try:
            status = self.sign_mandate(token, accept=bool(body.get("accept", True)))
        except LookupError:
            abort(404)
        except ValueError as error:
            return jsonify({"error": str(error)}), 409
        return jsonify({"postback_status": status})

    def _control_pay(self, reference: str):
        body = request.get_json(silent=True) or {}
        try:
            status = self.pay_now(
                reference,
                amount=Decimal(str(body["amount"])) if "amount" in body else None,
                accepted=bool(body.get("accepted", True)),
                method=str(body.get("method", "1")),
            )
        except LookupError:
            abort(404)
        return jsonify({"postback_status": status})
