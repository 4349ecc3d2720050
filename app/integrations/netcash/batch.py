"""NetCash batch files (integrations.md §1.4, §1.5): tab-delimited H, K, T…, F records.

A debit-order file is a header (service key, version 1, instruction, batch name, action date,
software vendor key), a key record naming the field ids each transaction carries, one T line
per debit and a footer with the number of T lines, the sum of their amounts in cents and the
end marker 9999. A value containing a tab or a line break would shift every later field, so
values are cleaned before they are written.
"""

import re
from dataclasses import dataclass
from datetime import date

# Field ids of our TwoDay lines, in the order of each T line (ascending, as NetCash's samples).
DEBIT_KEY = ("101", "102", "131", "132", "133", "134", "136", "162", "301")
BANK_ACCOUNT_DETAIL = "1"  # field 131: 1 bank account, 2 credit card
FOOTER_MARKER = "9999"
LINE_END = "\r\n"
INSTRUCTIONS = ("TwoDay", "Sameday")

_BREAKS = re.compile(r"[\t\r\n]+")
_DIGITS = re.compile(r"\d+")


def clean_value(value: object) -> str:
    """A field value with tabs and line breaks replaced by one space, trimmed."""
    return _BREAKS.sub(" ", "" if value is None else str(value)).strip()


@dataclass(frozen=True)
class DebitLine:
    """One T line of a TwoDay batch: who to debit, from which account, how much."""

    account_reference: str  # 101: our customer account number (2-22 characters)
    account_name: str  # 102: truncated to 50
    holder_name: str  # 132
    account_type: int  # 133: 1 current/cheque, 2 savings, 3 transmission
    branch_code: str  # 134: 6 digits
    account_number: str  # 136: digits
    amount_cents: int  # 162: integer cents, > 0
    item_reference: str  # 301 (Extra 1): echoed on the statement


def _debit_values(line: DebitLine, number: int) -> list[str]:
    """The T-line values of one debit in DEBIT_KEY order; ValueError names the bad field."""
    reference = clean_value(line.account_reference)
    where = f"debit line {number} ({reference or 'no reference'})"
    if not 2 <= len(reference) <= 22:
        raise ValueError(f"{where}: account reference must be 2-22 characters")
    account_name = clean_value(line.account_name)[:50]
    if not account_name:
        raise ValueError(f"{where}: account name is required")
    holder_name = clean_value(line.holder_name)[:50]
    if not holder_name:
        raise ValueError(f"{where}: account holder name is required")
    if line.account_type not in (1, 2, 3) or isinstance(line.account_type, bool):
        raise ValueError(f"{where}: account type must be 1 (current), 2 (savings) or 3")
    branch_code = clean_value(line.branch_code)
    if not (len(branch_code) == 6 and _DIGITS.fullmatch(branch_code)):
        raise ValueError(f"{where}: branch code must be 6 digits")
    account_number = clean_value(line.account_number)
    if not (_DIGITS.fullmatch(account_number) and len(account_number) <= 16):
        raise ValueError(f"{where}: bank account number must be 1-16 digits")
    amount = line.amount_cents
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"{where}: amount must be a positive whole number of cents")
    item_reference = clean_value(line.item_reference)
    if not 1 <= len(item_reference) <= 50:
        raise ValueError(f"{where}: item reference must be 1-50 characters")
    return [
        reference,
        account_name,
        BANK_ACCOUNT_DETAIL,
        holder_name,
        str(line.account_type),
        branch_code,
        account_number,
        str(amount),
        item_reference,
    ]


def build_debit_batch(
    *,
    service_key: str,
    vendor_key: str,
    batch_name: str,
    action_date: date,
    lines: list[DebitLine],
    instruction: str = "TwoDay",
) -> str:
    """The batch file text of one debit-order run: H, K, one T per line, F; CRLF line ends.

    Raises ValueError with the line and field at fault when a value cannot be sent.
    """
    if instruction not in INSTRUCTIONS:
        raise ValueError(f"instruction must be one of {', '.join(INSTRUCTIONS)}")
    name = clean_value(batch_name)
    if not name or len(name) > 50:
        raise ValueError("batch name must be 1-50 characters")
    if not clean_value(service_key) or not clean_value(vendor_key):
        raise ValueError("service key and software vendor key are required")
    if not lines:
        raise ValueError("a batch needs at least one debit line")
    header = [
        "H",
        clean_value(service_key),
        "1",
        instruction,
        name,
        action_date.strftime("%Y%m%d"),
        clean_value(vendor_key),
    ]
    records = [header, ["K", *DEBIT_KEY]]
    total = 0
    for number, line in enumerate(lines, start=1):
        records.append(["T", *_debit_values(line, number)])
        total += line.amount_cents
    records.append(["F", str(len(lines)), str(total), FOOTER_MARKER])
    return "".join("\t".join(record) + LINE_END for record in records)


class BatchFileError(ValueError):
    """The file is not an H, K, T…, F batch (its structure, not a field value, is wrong)."""


@dataclass(frozen=True)
class BatchRecord:
    """One T line as read: its line number in the file and its values by field id."""

    line_number: int
    values: tuple[str, ...]
    key: tuple[str, ...]

    def get(self, field_id: str, default: str = "") -> str:
        try:
            return self.values[self.key.index(field_id)]
        except (ValueError, IndexError):
            return default

    @property
    def fits_key(self) -> bool:
        return len(self.values) == len(self.key)


@dataclass(frozen=True)
class BatchFile:
    """A batch file split into its records (values are not checked beyond the structure)."""

    header: tuple[str, ...]  # H, service key, version, instruction, name, action date, vendor
    key: tuple[str, ...]
    transactions: list[BatchRecord]
    footer: tuple[str, ...]  # F, count, total cents, 9999

    def _header_field(self, index: int) -> str:
        return self.header[index] if len(self.header) > index else ""

    @property
    def service_key(self) -> str:
        return self._header_field(1)

    @property
    def version(self) -> str:
        return self._header_field(2)

    @property
    def instruction(self) -> str:
        return self._header_field(3)

    @property
    def batch_name(self) -> str:
        return self._header_field(4)

    @property
    def action_date_text(self) -> str:
        return self._header_field(5)

    @property
    def vendor_key(self) -> str:
        return self._header_field(6)


def split_lines(text: str) -> list[str]:
    """Lines of a NetCash text (CRLF, LF or CR ends), without trailing empty lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def parse_batch_file(text: str) -> BatchFile:
    """Split a batch file into header, key, transactions and footer.

    Raises BatchFileError when a record is missing or out of place; field values are left
    for the reader to judge.
    """
    lines = split_lines(text)
    if not lines or not lines[0].startswith("H\t"):
        raise BatchFileError("The first record must be the header (H)")
    if len(lines) < 2 or not lines[1].startswith("K\t"):
        raise BatchFileError("The second record must be the key record (K)")
    if len(lines) < 3 or not lines[-1].startswith("F\t"):
        raise BatchFileError("The last record must be the footer (F)")
    header = tuple(lines[0].split("\t"))
    key = tuple(field.strip() for field in lines[1].split("\t")[1:])
    if not key or not all(_DIGITS.fullmatch(field) for field in key):
        raise BatchFileError("The key record (K) must list numeric field ids")
    transactions = []
    for number, line in enumerate(lines[2:-1], start=3):
        if not line.startswith("T\t"):
            raise BatchFileError(f"Line {number} is not a transaction record (T)")
        transactions.append(BatchRecord(number, tuple(line.split("\t")[1:]), key))
    return BatchFile(header, key, transactions, tuple(lines[-1].split("\t")))
