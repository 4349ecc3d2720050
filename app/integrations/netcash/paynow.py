"""NetCash Pay Now: the hosted payment form and its notify postback (integrations.md §1.13, §1.14).

The customer's browser POSTs the form to NetCash; NetCash POSTs the outcome to the Notify URL
configured on the Pay Now service. The postback is not signed: a payment is trusted only when
its reference, amount and our secret (carried in an Extra field) match a request we made.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask import current_app

from app.integrations.http import ProviderNotConfigured
from app.integrations.netcash.batch import clean_value

CENT = Decimal("0.01")

# Notify `Method` values (§1.14).
METHOD_CARD, METHOD_EFT, METHOD_RETAIL, METHOD_INSTANT_EFT = "1", "2", "3", "4"


def paynow_form(
    *,
    reference: str,
    description: str,
    amount: Decimal,
    extra1: str,
    extra2: str,
    extra3: str,
    email: str | None,
    mobile: str | None,
) -> tuple[str, dict[str, str]]:
    """The Pay Now URL and form fields for one payment (amount in rands, 2 decimals).

    `reference` (p2) must be unique per attempt; it comes back as `Reference`, the extras as
    `Extra1`-`Extra3`.
    """
    config = current_app.config
    url = config.get("NETCASH_PAYNOW_URL")
    service_key = config.get("NETCASH_PAYNOW_SERVICE_KEY")
    if not url or not service_key:
        raise ProviderNotConfigured("netcash", "NETCASH_PAYNOW_URL / SERVICE_KEY are not set")
    amount = Decimal(amount).quantize(CENT)
    if amount <= 0:
        raise ValueError("a Pay Now amount must be positive")
    reference = clean_value(reference)
    if not reference:
        raise ValueError("a Pay Now reference is required")
    fields = {
        "m1": service_key,
        "m2": config["NETCASH_SOFTWARE_VENDOR_KEY"],
        "p2": reference,
        "p3": clean_value(description)[:50],
        "p4": f"{amount:f}",
        "Budget": "N",
        "m4": clean_value(extra1),
        "m5": clean_value(extra2),
        "m6": clean_value(extra3),
        "m9": clean_value(email),
        "m11": _national_mobile_or_blank(mobile),
    }
    return url, fields


def _national_mobile_or_blank(number: str | None) -> str:
    """m11 takes SA mobiles only, as 10 digits starting with 0; anything else is left out."""
    digits = re.sub(r"[^\d+]", "", number or "")
    if digits.startswith("+27"):
        digits = "0" + digits[3:]
    return digits if re.fullmatch(r"0\d{9}", digits) else ""


@dataclass(frozen=True)
class PayNowNotify:
    """A Pay Now postback as posted; nothing in it is trusted until matched to a request."""

    accepted: bool
    reason: str
    request_trace: str
    reference: str
    amount: Decimal | None
    extra1: str | None
    extra2: str | None
    extra3: str | None
    method: str | None
    raw: dict

    @property
    def status(self) -> str:
        """NetCash's own rule: pending / cancelled / declined in Reason win; else success."""
        reason = self.reason.lower()
        for word in ("pending", "cancelled", "declined"):
            if word in reason:
                return word
        if self.accepted and reason == "success":
            return "success"
        return "declined"


def _optional(form: Mapping[str, str], name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def parse_paynow_notify(form: Mapping[str, str]) -> PayNowNotify:
    """Read a notify postback; never raises on junk (an unreadable amount is None)."""
    try:
        amount = Decimal((form.get("Amount") or "").strip().replace(",", ""))
        amount = amount.quantize(CENT) if amount.is_finite() else None
    except (InvalidOperation, ValueError):
        amount = None
    return PayNowNotify(
        accepted=(form.get("TransactionAccepted") or "").strip().lower() == "true",
        reason=(form.get("Reason") or "").strip(),
        request_trace=(form.get("RequestTrace") or "").strip(),
        reference=(form.get("Reference") or "").strip(),
        amount=amount,
        extra1=_optional(form, "Extra1"),
        extra2=_optional(form, "Extra2"),
        extra3=_optional(form, "Extra3"),
        method=_optional(form, "Method"),
        raw={key: form.get(key) for key in form},
    )
