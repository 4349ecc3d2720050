"""The NetCash NIWS_NIF SOAP 1.1 client (integrations.md §1.2, §1.3, §1.7–§1.12).

Every call is a POST of a SOAP 1.1 envelope (text/xml; charset=utf-8) with the SOAPAction
`http://tempuri.org/INIWS_NIF/<Method>`; the method element is in the `http://tempuri.org/`
namespace and its parameters are its children, in WSDL order. Most methods answer a string:
data, `FILE NOT READY`, `NO CHANGE`, or a 3-digit result code when they fail. Transient
failures (timeouts, 5xx, a server-side fault) are retried by `call_with_retries`; a result
code other than success raises `NetcashError`.
"""

import logging
import re
import xml.etree.ElementTree as ET  # noqa: S405 - see _parse_xml
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import httpx
from flask import current_app

from app.integrations.http import (
    ProviderClient,
    ProviderError,
    ProviderNotConfigured,
    call_with_retries,
    provider_client,
)
from app.integrations.netcash.reports import (
    FILE_NOT_READY,
    NO_CHANGE,
    SUCCESS,
    BatchStatus,
    LoadReport,
    MandateStatusLine,
    StatementLine,
    is_result_code,
    parse_batch_status,
    parse_load_report,
    parse_mandate_data,
    parse_rands,
    parse_statement,
)

log = logging.getLogger(__name__)

PROVIDER = "netcash"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TEMPURI = "http://tempuri.org/"
ACTION_PREFIX = "http://tempuri.org/INIWS_NIF/"
CONTENT_TYPE = "text/xml; charset=utf-8"

# Characters XML 1.0 cannot carry at all (control characters other than tab, LF, CR).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CCYYMMDD = re.compile(r"\d{8}")


class NetcashError(ProviderError):
    """NetCash answered a result code other than success (e.g. 100 authentication)."""

    def __init__(self, code: str, message: str | None = None):
        self.code = code
        super().__init__(PROVIDER, message or f"result code {code}", code=code)


class SoapFault(ProviderError):
    """The service answered a SOAP fault (unknown action, malformed request…)."""

    def __init__(self, faultcode: str, faultstring: str, *, status: int | None = None):
        self.faultcode = faultcode
        self.faultstring = faultstring
        super().__init__(PROVIDER, f"SOAP fault {faultcode}: {faultstring}", status=status)

    @property
    def transient(self) -> bool:
        """A fault the server raised on its own side (worth another attempt)."""
        return self.faultcode.rsplit(":", 1)[-1] in {"Server", "Receiver", "InternalServiceFault"}


# --- envelopes --------------------------------------------------------------------------------


def xml_text(value: str) -> str:
    """Text escaped for an XML element; CR kept as &#xD; so CRLF line ends survive parsing."""
    if _NOT_XML.search(value):
        raise ValueError("text contains characters XML cannot carry (control characters)")
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")
    )


def soap_value(value: object) -> str:
    """How WCF expects a parameter: booleans lower-case, dates CCYYMMDD, rands 2 decimals."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    if isinstance(value, Decimal):
        return f"{value.quantize(Decimal('0.01')):f}"
    return str(value)


def build_envelope(method: str, params: Iterable[tuple[str, object]]) -> bytes:
    """A SOAP 1.1 request for `method`; parameters whose value is None are left out."""
    children = "".join(
        f"<{name}>{xml_text(soap_value(value))}</{name}>"
        for name, value in params
        if value is not None
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
        f'<{method} xmlns="{TEMPURI}">{children}</{method}>'
        "</soap:Body></soap:Envelope>"
    ).encode()


def _parse_xml(content: bytes) -> ET.Element:
    # Python's expat refuses external entities and (since 3.7.1 / expat 2.4.1) entity
    # expansion bombs; the documents come from the configured provider only.
    try:
        return ET.fromstring(content)  # noqa: S314
    except ET.ParseError as error:
        raise ProviderError(PROVIDER, f"answer is not XML ({error})") from None


def local_name(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def soap_body(content: bytes) -> ET.Element:
    """The element inside <Body> of a SOAP 1.1 envelope (any prefix); SoapFault if a fault."""
    root = _parse_xml(content)
    body = next((child for child in root if local_name(child) == "Body"), None)
    if local_name(root) != "Envelope" or body is None:
        raise ProviderError(PROVIDER, "answer is not a SOAP envelope")
    payload = next(iter(body), None)
    if payload is None:
        raise ProviderError(PROVIDER, "SOAP body is empty")
    if local_name(payload) == "Fault":
        texts = {local_name(child): (child.text or "").strip() for child in payload}
        raise SoapFault(texts.get("faultcode", ""), texts.get("faultstring", ""))
    return payload


def find_child(element: ET.Element, name: str) -> ET.Element | None:
    """The first descendant called `name`, whatever its namespace."""
    return next((child for child in element.iter() if local_name(child) == name), None)


def child_text(element: ET.Element, name: str) -> str | None:
    found = find_child(element, name)
    return None if found is None else (found.text or "")


def string_list(element: ET.Element, name: str) -> list[str]:
    """The strings of an array member (e.g. Errors: <b:string>…</b:string>…)."""
    found = find_child(element, name)
    if found is None:
        return []
    return [(item.text or "").strip() for item in found if (item.text or "").strip()]


# --- the data we send and read ----------------------------------------------------------------


@dataclass(frozen=True)
class MandateRequest:
    """The AddMandate parameters we use (integrations.md §1.10)."""

    account_reference: str
    mandate_name: str
    mandate_amount: Decimal
    is_consumer: bool
    first_name: str
    surname: str
    trading_name: str | None
    registration_number: str | None
    registered_name: str | None
    mobile_number: str  # national 10-digit 0XXXXXXXXX (+27… is converted)
    email: str | None
    debit_day: int  # 1-31; 30 and 31 mean the month's last day ("LDOM")
    commencement_month: int
    agreement_date: date
    agreement_reference: str
    public_holiday_option: str  # PrecedingOrdinaryBusinessDay | VeryNextOrdinaryBusinessDay
    bank_account_name: str
    bank_account_number: str
    branch_code: str
    bank_account_type: str  # Current | Savings | Transmission
    field1: str | None = None  # our payment-method id, echoed in the postback
    field2: str | None = None


@dataclass(frozen=True)
class MandateResult:
    error_code: str
    mandate_url: str | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_code == SUCCESS and bool(self.mandate_url)


def commencement_day(debit_day: int) -> str:
    """AddMandate's CommencementDay: "01"-"29", or "LDOM" for a month-end debit day."""
    if not 1 <= debit_day <= 31:
        raise ValueError("debit day must be 1-31")
    return "LDOM" if debit_day >= 30 else f"{debit_day:02d}"


def national_mobile(number: str) -> str:
    """A South African mobile number as NetCash wants it: 10 digits starting with 0."""
    digits = re.sub(r"[^\d+]", "", number or "")
    if digits.startswith("+27"):
        digits = "0" + digits[3:]
    elif digits.startswith("27") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not re.fullmatch(r"0\d{9}", digits):
        raise ValueError(f"mobile number must be 10 digits starting with 0, got {number!r}")
    return digits


def _add_mandate_params(service_key: str, request: MandateRequest) -> list[tuple[str, object]]:
    """AddMandate's parameters in WSDL order; those we do not use are left out (None)."""
    fields = [request.field1, request.field2] + [None] * 7
    return [
        ("ServiceKey", service_key),
        ("AccountReference", request.account_reference),
        ("MandateName", request.mandate_name[:50]),
        ("MandateAmount", request.mandate_amount),
        ("IsConsumer", request.is_consumer),
        ("FirstName", request.first_name),
        ("Surname", request.surname),
        ("TradingName", request.trading_name),
        ("RegistrationNumber", request.registration_number),
        ("RegisteredName", request.registered_name),
        ("MobileNumber", national_mobile(request.mobile_number)),
        ("DebitFrequency", "Monthly"),
        ("CommencementMonth", request.commencement_month),
        ("CommencementDay", commencement_day(request.debit_day)),
        ("AgreementDate", request.agreement_date),
        ("AgreementReferenceNumber", request.agreement_reference),
        ("CancellationNoticePeriod", None),
        ("PublicHolidayOption", request.public_holiday_option),
        ("Notes", None),
        *[(f"Field{number}", value) for number, value in enumerate(fields, start=1)],
        # Invoices differ month to month (pro-rata, credits): the debit amount varies.
        ("AllowVariableDebitAmounts", True),
        ("BankDetailType", 1),
        ("BankAccountName", request.bank_account_name),
        ("BankAccountNumber", request.bank_account_number),
        ("BranchCode", request.branch_code),
        ("BankAccountType", request.bank_account_type),
        ("CreditCardToken", None),
        ("CreditCardType", None),
        ("ExpiryMonth", None),
        ("ExpiryYear", None),
        ("IsIdNumber", None),
        ("Title", None),
        ("EmailAddress", request.email),
        ("PhoneNumber", None),
        ("DateOfBirth", None),
        ("DecemberDebitDay", None),
        ("DebitMasterfileGroup", None),
        ("PhysicalAddressLine1", None),
        ("PhysicalAddressLine2", None),
        ("PhysicalAddressLine3", None),
        ("PhysicalSuburb", None),
        ("PhysicalCity", None),
        ("PhysicalProvince", None),
        ("PhysicalPostalCode", None),
        ("MandateActive", True),
        ("RequestAVS", False),
        ("AVSCheckNumber", None),
        ("IncludeDebiCheck", False),
        ("DebiCheckMandateTemplateId", None),
        ("DebiCheckCollectionAmount", None),
        ("DebiCheckFirstCollectionDiffers", None),
        ("DebiCheckFirstCollectionDate", None),
        ("DebiCheckFirstCollectionAmount", None),
        ("DebiCheckCollectionDayCode", None),
        ("AddToMasterFile", True),
    ]


# --- the client -------------------------------------------------------------------------------


class NetcashClient(ProviderClient):
    """The NIWS_NIF web service with our service keys. Use inside an app context."""

    def __init__(
        self,
        *,
        ws_url: str,
        debit_order_key: str | None,
        account_key: str | None,
        http: httpx.Client,
    ):
        self.ws_url = ws_url
        self._debit_order_key = debit_order_key
        self._account_key = account_key
        self.http = http

    @classmethod
    def from_config(cls) -> "NetcashClient":
        """A client on the configured endpoint; ProviderNotConfigured when it has none."""
        config = current_app.config
        ws_url = config.get("NETCASH_WS_URL")
        if not ws_url:
            raise ProviderNotConfigured(PROVIDER, "NETCASH_WS_URL is not set")
        return cls(
            ws_url=ws_url,
            debit_order_key=config.get("NETCASH_DEBIT_ORDER_SERVICE_KEY"),
            account_key=config.get("NETCASH_ACCOUNT_SERVICE_KEY"),
            http=provider_client(ws_url),
        )

    # -- transport --

    def _key(self, which: str) -> str:
        key = self._debit_order_key if which == "debit" else self._account_key
        if not key:
            setting = (
                "NETCASH_DEBIT_ORDER_SERVICE_KEY"
                if which == "debit"
                else "NETCASH_ACCOUNT_SERVICE_KEY"
            )
            raise ProviderNotConfigured(PROVIDER, f"{setting} is not set")
        return key

    def call(self, method: str, params: list[tuple[str, object]]) -> ET.Element:
        """POST one SOAP request and return its <MethodResult> element.

        A server-side fault or 5xx is retried; a client fault raises SoapFault at once.
        """
        envelope = build_envelope(method, params)
        headers = {"Content-Type": CONTENT_TYPE, "SOAPAction": f'"{ACTION_PREFIX}{method}"'}

        def send() -> httpx.Response:
            response = self.http.post(self.ws_url, content=envelope, headers=headers)
            if response.status_code == 500 and b"Fault" in response.content:
                try:
                    soap_body(response.content)
                except SoapFault as fault:
                    if not fault.transient:
                        fault.status = 500
                        raise
                except ProviderError:
                    pass
            return response

        response = call_with_retries(PROVIDER, send)
        if response.status_code != 200:
            raise ProviderError(
                PROVIDER,
                f"{method} answered HTTP {response.status_code}",
                status=response.status_code,
            )
        payload = soap_body(response.content)
        if local_name(payload) != f"{method}Response":
            raise ProviderError(PROVIDER, f"{method}: unexpected answer {local_name(payload)}")
        result = find_child(payload, f"{method}Result")
        if result is None:
            raise ProviderError(PROVIDER, f"{method}: answer has no {method}Result")
        return result

    def _string(self, method: str, params: list[tuple[str, object]]) -> str:
        result = self.call(method, params)
        text = (result.text or "").strip("\r\n ")
        log.info("netcash %s answered %s", method, text[:16] if is_result_code(text) else "data")
        return text

    @staticmethod
    def _raise_on_code(method: str, text: str, *, allowed: tuple[str, ...] = ()) -> None:
        if is_result_code(text) and text.strip() not in allowed:
            raise NetcashError(text.strip(), f"{method} failed with result code {text.strip()}")

    # -- debit-order batches --

    def batch_file_upload(self, file_text: str) -> str:
        """Upload a batch file; returns NetCash's file token."""
        text = self._string(
            "BatchFileUpload", [("ServiceKey", self._key("debit")), ("File", file_text)]
        )
        self._raise_on_code("BatchFileUpload", text)
        if not text:
            raise ProviderError(PROVIDER, "BatchFileUpload returned no file token")
        return text

    def request_file_upload_report(self, token: str) -> LoadReport | None:
        """The load report of an upload; None while NetCash answers FILE NOT READY."""
        text = self._string(
            "RequestFileUploadReport", [("ServiceKey", self._key("debit")), ("FileToken", token)]
        )
        if text.upper() == FILE_NOT_READY:
            return None
        self._raise_on_code("RequestFileUploadReport", text)
        try:
            return parse_load_report(text)
        except ValueError as error:
            raise ProviderError(PROVIDER, str(error)) from None

    def retrieve_batch_status(self) -> list[BatchStatus]:
        """The last batches on the debit-order service, with their GUIDs and status codes."""
        text = self._string("RetrieveBatchStatus", [("ServiceKey", self._key("debit"))])
        self._raise_on_code("RetrieveBatchStatus", text)
        return parse_batch_status(text)

    def request_batch_authorise(self, batch_guid: str) -> None:
        """Release an uploaded batch for processing; NetcashError unless NetCash says 000."""
        text = self._string(
            "RequestBatchAuthorise",
            [
                ("ServiceKey", self._key("debit")),
                ("BatchIndicator", batch_guid),
                ("SendEmail", False),
                ("FromName", ""),
                ("FromAddress", ""),
                ("SendSMS", False),
                ("ReleaseFunds", False),
                ("BankTransfer", False),
            ],
        )
        if text != SUCCESS:
            raise NetcashError(text or "?", f"RequestBatchAuthorise answered {text!r}")

    def request_action_date(
        self, day: date, *, instruction: str = "TwoDay", forward: bool = True
    ) -> date:
        """The first valid action date on or after `day` (forward), or `day` itself if valid."""
        text = self._string(
            "RequestActionDate",
            [
                ("ServiceKey", self._key("debit")),
                ("Date", day),
                ("Instruction", instruction),
                ("ForwardActionDate", "1" if forward else "0"),
            ],
        )
        self._raise_on_code("RequestActionDate", text)
        if not _CCYYMMDD.fullmatch(text):
            raise ProviderError(PROVIDER, f"RequestActionDate answered {text[:40]!r}")
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))

    def get_debit_limits(self) -> tuple[Decimal, Decimal]:
        """(line limit, daily limit) of the debit-order service, in rands."""
        result = self.call("GetDebitLimits", [("ServiceKey", self._key("debit"))])
        code = (child_text(result, "ErrorCode") or "").strip()
        if code and code != SUCCESS:
            raise NetcashError(code, f"GetDebitLimits failed with result code {code}")
        try:
            line = parse_rands(child_text(result, "LineLimit") or "")
            daily = parse_rands(child_text(result, "DailyLimit") or "")
        except ValueError as error:
            raise ProviderError(PROVIDER, f"GetDebitLimits: {error}") from None
        return line, daily

    # -- eMandates --

    def add_mandate(self, request: MandateRequest) -> MandateResult:
        """Create an eMandate for signing; 000 gives its URL, 203 lists what is wrong.

        Other codes (100 authentication, 200 service error) raise NetcashError.
        """
        result = self.call("AddMandate", _add_mandate_params(self._key("debit"), request))
        code = (child_text(result, "ErrorCode") or "").strip()
        errors = string_list(result, "Errors")
        if code not in (SUCCESS, "203"):
            raise NetcashError(code or "?", f"AddMandate failed ({code}): {'; '.join(errors)}")
        url = (child_text(result, "MandateUrl") or "").strip() or None
        return MandateResult(code, url, errors, string_list(result, "Warnings"))

    def request_mandate_data(self) -> str:
        """Ask for the status of every mandate; returns the file token to poll."""
        text = self._string("RequestMandateData", [("ServiceKey", self._key("debit"))])
        self._raise_on_code("RequestMandateData", text)
        return text

    def retrieve_mandate_data(self, token: str) -> list[MandateStatusLine] | None:
        """Mandate status lines; None while NetCash answers FILE NOT READY."""
        text = self._string(
            "RetrieveMandateData", [("ServiceKey", self._key("debit")), ("FileToken", token)]
        )
        if text.upper() == FILE_NOT_READY:
            return None
        self._raise_on_code("RetrieveMandateData", text)
        return parse_mandate_data(text)

    # -- statement --

    def request_merchant_statement(self, from_date: date) -> str:
        """Ask for the statement of an action date; returns the polling id."""
        text = self._string(
            "RequestMerchantStatement",
            [("ServiceKey", self._key("account")), ("FromActionDate", from_date)],
        )
        self._raise_on_code("RequestMerchantStatement", text)
        return text

    def retrieve_merchant_statement(self, polling_id: str) -> list[StatementLine] | None:
        """Statement lines; None while FILE NOT READY, [] for NO CHANGE."""
        text = self._string(
            "RetrieveMerchantStatement",
            [("ServiceKey", self._key("account")), ("PollingId", polling_id)],
        )
        if text.upper() == FILE_NOT_READY:
            return None
        if text.upper() == NO_CHANGE:
            return []
        self._raise_on_code("RetrieveMerchantStatement", text)
        return parse_statement(text)
