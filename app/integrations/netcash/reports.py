"""Reading NetCash's text results: load report, batch status, mandate data, statement.

Every one is tab-delimited text whose lines may end in CRLF, LF or CR (integrations.md
§1.7, §1.8, §1.11, §1.12). A method that fails answers a bare 3-digit result code instead
of the text, so callers test `is_result_code` before parsing.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from app.integrations.netcash.batch import split_lines

FILE_NOT_READY = "FILE NOT READY"
NO_CHANGE = "NO CHANGE"
SUCCESS = "000"

LOAD_SUCCESSFUL = "SUCCESSFUL"
LOAD_UNSUCCESSFUL = "UNSUCCESSFUL"
LOAD_WITH_ERRORS = "SUCCESSFUL WITH ERRORS"

CENT = Decimal("0.01")
_CODE = re.compile(r"\d{3}")
_LINE_NUMBER = re.compile(r"Line\s*:?\s*(\d+)", re.IGNORECASE)
_UNPAID_CODE = re.compile(r"\bCode\s*:?\s*(\d{1,2})\b", re.IGNORECASE)


def is_result_code(text: str | None) -> bool:
    """True when a result is one of NetCash's 3-digit codes rather than data."""
    return bool(text) and bool(_CODE.fullmatch(text.strip()))


def parse_rands(text: str) -> Decimal:
    """A rand amount ("1234.5", "1 234.50", "1,234.50") as Decimal cents; ValueError if not."""
    cleaned = text.strip().replace(" ", "").replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    return amount.quantize(CENT)


def parse_ccyymmdd(text: str) -> date:
    return datetime.strptime(text.strip(), "%Y%m%d").date()


def _fields(line: str) -> list[str]:
    return [field.strip() for field in line.split("\t")]


# --- load report (§1.7) -----------------------------------------------------------------------


@dataclass(frozen=True)
class LoadReportError:
    reference: str | None  # the line's account reference; None for a file-level error
    line: int | None
    message: str


@dataclass(frozen=True)
class LoadReport:
    batch_name: str
    result: str  # SUCCESSFUL | UNSUCCESSFUL | SUCCESSFUL WITH ERRORS
    errors: list[LoadReportError]
    text: str

    @property
    def successful(self) -> bool:
        """The batch was loaded (possibly without its bad lines)."""
        return self.result in (LOAD_SUCCESSFUL, LOAD_WITH_ERRORS)


def parse_load_report(text: str) -> LoadReport:
    """Read `###BEGIN name result time`, error lines and `###END time`.

    Error lines are `reference<TAB>Line :n<TAB>message` or `###ERROR<TAB>message`.
    """
    batch_name = result = None
    errors: list[LoadReportError] = []
    for line in split_lines(text):
        if not line.strip():
            continue
        fields = _fields(line)
        tag = fields[0].upper()
        if tag == "###BEGIN":
            batch_name = fields[1] if len(fields) > 1 else ""
            result = fields[2].upper() if len(fields) > 2 else ""
        elif tag == "###END":
            continue
        elif tag == "###ERROR":
            errors.append(LoadReportError(None, None, "\t".join(fields[1:]).strip()))
        else:
            number = _LINE_NUMBER.fullmatch(fields[1]) if len(fields) > 1 else None
            if number:
                message = "\t".join(fields[2:]).strip()
                errors.append(LoadReportError(fields[0] or None, int(number.group(1)), message))
            else:
                errors.append(LoadReportError(None, None, line.strip()))
    if result not in (LOAD_SUCCESSFUL, LOAD_UNSUCCESSFUL, LOAD_WITH_ERRORS):
        raise ValueError(f"not a NetCash load report: {text[:80]!r}")
    return LoadReport(batch_name or "", result, errors, text)


# --- batch status (§1.8) ----------------------------------------------------------------------

BATCH_UNAUTHORISED, BATCH_AUTHORISED, BATCH_LOCKED, BATCH_PROCESSED, BATCH_NO_FUNDS = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class BatchStatus:
    batch_guid: str
    batch_name: str
    status_code: int  # 1 unauthorised, 2 authorised, 3 locked, 4 processed, 5 insufficient funds
    count: int
    value: Decimal


def parse_batch_status(text: str) -> list[BatchStatus]:
    """One batch per line: service key, GUID, name, status, volume, value, three timestamps."""
    batches = []
    for line in split_lines(text):
        fields = _fields(line)
        if len(fields) < 6 or not fields[3].isdigit():
            continue
        batches.append(
            BatchStatus(
                batch_guid=fields[1],
                batch_name=fields[2],
                status_code=int(fields[3]),
                count=int(fields[4]) if fields[4].isdigit() else 0,
                value=parse_rands(fields[5] or "0"),
            )
        )
    return batches


# --- mandate data (§1.11 polling backstop) ----------------------------------------------------

MANDATE_AWAITING, MANDATE_EXPIRED, MANDATE_FAILED, MANDATE_DECLINED, MANDATE_ACCEPTED = (
    2,
    3,
    4,
    5,
    6,
)


@dataclass(frozen=True)
class MandateStatusLine:
    status_code: int  # 6 accepted, 4 failed, 5 declined, 3 expired, 2 awaiting, 1/8/11 capturing
    account_reference: str
    name: str
    amount: Decimal


def parse_mandate_data(text: str) -> list[MandateStatusLine]:
    """`###BEGIN date`, one line per mandate (status, reference, name, amount, …), `###END`."""
    mandates = []
    for line in split_lines(text):
        fields = _fields(line)
        if fields[0].startswith("###") or len(fields) < 4 or not fields[0].isdigit():
            continue
        try:
            amount = parse_rands(fields[3] or "0")
        except ValueError:
            amount = Decimal("0.00")
        mandates.append(MandateStatusLine(int(fields[0]), fields[1], fields[2], amount))
    return mandates


# --- merchant statement (§1.12) ---------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    transaction_date: date
    code: str  # TDD success, DRU unpaid, PNC Pay Now card, PNE Pay Now EFT, OBL/CBL balances…
    transaction_id: str  # NetCash's id, unique per line
    description: str
    amount: Decimal  # rands, always positive; see `sign`
    sign: str  # "+" or "-"
    extra1: str | None  # debit orders: our item reference (field 301); Pay Now: Extra1
    account_reference: str | None  # debit orders: field 101; Pay Now: Extra2
    unpaid_code: str | None  # DRU only: "02", "12", … from "Code nn" in the description

    @property
    def signed_amount(self) -> Decimal:
        return -self.amount if self.sign == "-" else self.amount


def unpaid_code_in(description: str) -> str | None:
    """The two-digit unpaid code in a description such as "Unpaid Code 02 Not provided for"."""
    found = _UNPAID_CODE.search(description)
    return found.group(1).zfill(2) if found else None


def parse_statement(text: str) -> list[StatementLine]:
    """Statement lines: date, code, id, description, amount (rands), sign, VAT, Extra 1, ref.

    Header or trailer lines (###…) and lines that are not transactions are skipped.
    """
    statement = []
    for line in split_lines(text):
        fields = _fields(line)
        if fields[0].startswith("###") or len(fields) < 6:
            continue
        try:
            transaction_date = parse_ccyymmdd(fields[0])
            amount = abs(parse_rands(fields[4] or "0"))
        except ValueError:
            continue
        code = fields[1].upper()
        description = fields[3]
        sign = "-" if fields[5] == "-" else "+"
        statement.append(
            StatementLine(
                transaction_date=transaction_date,
                code=code,
                transaction_id=fields[2],
                description=description,
                amount=amount,
                sign=sign,
                extra1=(fields[7] or None) if len(fields) > 7 else None,
                account_reference=(fields[8] or None) if len(fields) > 8 else None,
                unpaid_code=unpaid_code_in(description) if code == "DRU" else None,
            )
        )
    return statement
