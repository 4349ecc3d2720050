"""How the console shows values: rands, SAST times, audit diffs, and CSV-safe cells."""

import re
from datetime import datetime
from decimal import Decimal

from markupsafe import Markup, escape

from app.clock import BUSINESS_TZ

# A spreadsheet treats a cell starting with one of these as a formula (DESIGN §8).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def format_rand(amount: Decimal | int | None) -> str:
    """`R 1 234.56` (`-R 12.50` for a negative amount), exact: no float on the way."""
    if amount is None:
        return ""
    amount = Decimal(amount).quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else ""
    grouped = f"{abs(amount):,.2f}".replace(",", " ")
    return f"{sign}R {grouped}"


def balance_wording(balance: Decimal | None) -> str:
    """An account balance as a person reads it: positive is owed, negative is credit."""
    balance = balance or Decimal("0.00")
    if balance > 0:
        return f"Amount due {format_rand(balance)}"
    if balance < 0:
        return f"Credit {format_rand(-balance)}"
    return "Nothing due"


def format_sast(instant: datetime | None) -> str:
    """A stored UTC instant as the business time zone's wall clock, e.g. `2026-03-01 14:05`."""
    if instant is None:
        return ""
    return instant.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M SAST")


def neutralise_formula(value):
    """Prefix a text cell that a spreadsheet would run as a formula with a single quote.

    Plain numbers such as `-12.50` stay as they are so that amounts remain numeric.
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_PREFIXES)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def render_changes(changes: dict) -> Markup:
    """{field: (old, new)} as an HTML list `field: old → new`, every value escaped."""
    if not changes:
        return Markup('<span class="text-muted">no field changed</span>')
    items = Markup("").join(
        Markup("<li><code>{}</code>: {} &rarr; {}</li>").format(field, _shown(old), _shown(new))
        for field, (old, new) in changes.items()
    )
    return Markup('<ul class="list-unstyled mb-0">{}</ul>').format(items)


def _shown(value) -> Markup:
    if value is None or value == "":
        return Markup('<span class="text-muted">(empty)</span>')
    return escape(str(value))


def changes_as_text(changes: dict) -> str:
    """{field: (old, new)} as one line for an export: `status: active → suspended; …`."""
    return "; ".join(
        f"{field}: {_plain(old)} → {_plain(new)}" for field, (old, new) in changes.items()
    )


def _plain(value) -> str:
    return "(empty)" if value is None or value == "" else str(value)


def format_sast_iso(instant: datetime | None) -> str:
    """A stored UTC instant as an ISO timestamp in the business time zone (for exports)."""
    return "" if instant is None else instant.astimezone(BUSINESS_TZ).isoformat()
