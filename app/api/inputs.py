"""Reading API input: a JSON body field by field, and paging parameters.

Each error names its field, and all of a body's errors are reported together (422).
Numbers with a fraction are parsed as `Decimal` straight from the JSON text, so an amount
never passes through a binary float.
"""

import json
import re
from datetime import date
from decimal import Decimal

from flask import request

from app.api.errors import ApiError

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
AMOUNT_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
PAGE_NUMBER = re.compile(r"[0-9]{1,10}")
CENT = Decimal("0.01")
MONEY_LIMIT = Decimal(10) ** 10  # NUMERIC(12,2)
MAX_ID = 2**31 - 1  # PostgreSQL integer keys
MAX_TEXT = 2000
MAX_BODY_BYTES = 1_000_000
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def json_object() -> dict:
    """The request body as a JSON object (an empty body is an empty object); 400 otherwise."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ApiError(413, "The request body is too large.")
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def fields_error(errors: dict) -> ApiError:
    """One 422 for every field at fault."""
    if len(errors) == 1:
        ((field, message),) = errors.items()
        return ApiError(422, f"{field}: {message}", errors)
    return ApiError(422, "Some fields are missing or invalid.", errors)


class Fields:
    """A JSON object read one field at a time; `done()` raises every error at once.

    A field sent as null counts as left out. Fields the endpoint does not read are
    refused ("activationDate" instead of "activation_date" must not be silently ignored).
    """

    def __init__(self, data: dict):
        self._data = data
        self._read: set[str] = set()
        self.errors: dict[str, str] = {}

    def _value(self, name: str, required: bool, message: str = "This field is required."):
        self._read.add(name)
        value = self._data.get(name)
        if value is None and required:
            self.errors[name] = message
        return value

    def _fail(self, name: str, message: str) -> None:
        self.errors[name] = message

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        missing: str = "This field is required.",
        max_length: int = MAX_TEXT,
    ) -> str | None:
        """Trimmed text; blank counts as missing."""
        value = self._value(name, required, missing)
        if value is None:
            return None
        if not isinstance(value, str):
            return self._fail(name, "Must be text.")
        value = value.strip()
        if not value:
            return self._fail(name, missing) if required else None
        if len(value) > max_length:
            return self._fail(name, f"Must be at most {max_length} characters.")
        return value

    def integer(
        self, name: str, *, required: bool = False, minimum: int = 1, maximum: int = MAX_ID
    ) -> int | None:
        """A whole JSON number within bounds (ids by default)."""
        value = self._value(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return self._fail(name, "Must be a whole number.")
        if not minimum <= value <= maximum:
            return self._fail(name, f"Must be between {minimum} and {maximum}.")
        return value

    def id_list(self, name: str, *, max_items: int = 1000) -> list[int] | None:
        """A non-empty list of ids, without repeats, in the order given."""
        value = self._value(name, False)
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            return self._fail(name, "Must be a non-empty list of ids.")
        if len(value) > max_items:
            return self._fail(name, f"Must list at most {max_items} ids.")
        if any(isinstance(item, bool) or not isinstance(item, int) for item in value):
            return self._fail(name, "Must be a list of whole numbers.")
        if any(not 1 <= item <= MAX_ID for item in value):
            return self._fail(name, "Contains an id that cannot exist.")
        return list(dict.fromkeys(value))

    def iso_date(self, name: str, *, required: bool = False) -> date | None:
        """A calendar date written YYYY-MM-DD."""
        value = self._value(name, required)
        if value is None:
            return None
        if not isinstance(value, str) or not ISO_DATE.fullmatch(value.strip()):
            return self._fail(name, "Must be a date written YYYY-MM-DD.")
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return self._fail(name, "Is not a date in the calendar.")

    def money(self, name: str, *, required: bool = False) -> Decimal | None:
        """Rand as a string ("799.00") or a number (799, 799.5), exact to the cent."""
        value = self._value(name, required)
        if value is None:
            return None
        if isinstance(value, str) and AMOUNT_TEXT.fullmatch(value.strip()):
            value = Decimal(value.strip())
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            return self._fail(name, 'Must be an amount in rand, such as "799.00".')
        amount = Decimal(value)
        if not amount.is_finite() or abs(amount) >= MONEY_LIMIT:
            return self._fail(name, "Is too large an amount.")
        if amount < 0:
            return self._fail(name, "Cannot be negative.")
        if amount != amount.quantize(CENT):
            return self._fail(name, "Must have at most two decimals (cents).")
        return amount.quantize(CENT)

    def boolean(self, name: str, *, default: bool) -> bool:
        """JSON true or false; `default` when left out."""
        value = self._value(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            self._fail(name, "Must be true or false.")
            return default
        return value

    def done(self) -> None:
        """Raise a 422 naming every field at fault, unknown fields included."""
        for name in self._data:
            if name not in self._read:
                self.errors.setdefault(name, "Unknown field.")
        if self.errors:
            raise fields_error(self.errors)


def page_args() -> tuple[int, int]:
    """`limit` (1–100, default 20) and `offset` (≥ 0) from the query string."""
    errors = {}
    values = {}
    for name, default, low, high in (
        ("limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        ("offset", 0, 0, MAX_ID),
    ):
        raw = request.args.get(name, "").strip()
        if not raw:
            values[name] = default
        elif not PAGE_NUMBER.fullmatch(raw) or not low <= int(raw) <= high:
            errors[name] = f"Must be a whole number from {low} to {high}."
        else:
            values[name] = int(raw)
    if errors:
        raise fields_error(errors)
    return values["limit"], values["offset"]


def pagination(total: int, limit: int, offset: int) -> dict:
    """The `pagination` member of every list response (DESIGN §7)."""
    return {"total": total, "limit": limit, "offset": offset, "has_more": offset + limit < total}
