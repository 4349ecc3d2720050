"""The shape of an SMS: E.164 numbers and GSM-7 / UCS-2 segments (integrations.md §3.4–§3.5).

Pure rules, no database: a number typed any South African way becomes `+27…` (or is
refused with a message); a text is measured in the parts the network bills, and kept in
the GSM-7 alphabet where a close equivalent exists (curly quotes, dashes, accents).
"""

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

from app.errors import InvalidInput

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + septet).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153  # a concatenated part loses 7 septets to its header
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_SMS_SEGMENTS = 2  # DESIGN §5.10: one or two parts, never more

# Characters word processors and names bring in, with their GSM-7 stand-ins.
_GSM7_STAND_INS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u2022": "-",
    "\t": " ",
}

# Digits and the punctuation people write numbers with; anything else is not a number.
_PHONE_CHARACTERS = re.compile(r"^[0-9+()\-.\s/]+$")
_SMS_CAPABLE = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


@dataclass(frozen=True)
class SmsSize:
    """How a text travels: its encoding, its length in units, and the parts billed."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (extension characters count 2) or UTF-16 code units
    segments: int

    @property
    def is_gsm7(self) -> bool:
        return self.encoding == "GSM-7"


def is_gsm7(text: str) -> bool:
    """Whether every character is in the GSM-7 alphabet (basic or extension table)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def sms_size(text: str) -> SmsSize:
    """The encoding and number of parts a text needs.

    GSM-7: 160 septets in one SMS, else parts of 153; an extension character counts 2 and
    is never split across parts. One character outside GSM-7 makes the whole text UCS-2:
    70 units in one SMS, else parts of 67 (an emoji takes 2 units, never split).
    """
    if is_gsm7(text):
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        costs = [len(ch.encode("utf-16-le")) // 2 for ch in text]
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    units = sum(costs)
    if units <= single:
        return SmsSize(encoding, units, 1 if units else 0)
    return SmsSize(encoding, units, _parts(costs, part))


def _parts(costs: list[int], capacity: int) -> int:
    """Parts needed when characters are packed in order and none is split."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            parts, used = parts + 1, 0
        used += cost
    return parts


def to_gsm7(text: str) -> str:
    """The text with GSM-7 stand-ins for typographic characters and accented letters
    ("Zoë" → "Zoe", "–" → "-"); characters without a stand-in are kept (they make the
    message UCS-2)."""
    out = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
        elif ch in _GSM7_STAND_INS:
            out.append(_GSM7_STAND_INS[ch])
        else:
            stripped = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            out.append(stripped if stripped and is_gsm7(stripped) else ch)
    return "".join(out)


def e164(raw: str | None) -> str:
    """A phone number in E.164: "082 123 4567", "+27 82 123 4567" and "27821234567" all
    give "+27821234567" (South Africa unless the number says otherwise).

    Raises InvalidInput for anything that is not a valid number.
    """
    value = (raw or "").strip()
    if not value:
        raise InvalidInput("A phone number is required.", field="phone")
    if not _PHONE_CHARACTERS.match(value):
        raise InvalidInput(f"{value!r} is not a phone number.", field="phone")
    try:
        parsed = phonenumbers.parse(value, "ZA")
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"{value!r} is not a phone number.", field="phone") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{value!r} is not a valid phone number.", field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def sms_number(raw: str | None) -> str:
    """The E.164 number to text, refusing numbers that cannot receive an SMS (landlines)."""
    number = e164(raw)
    if phonenumbers.number_type(phonenumbers.parse(number)) not in _SMS_CAPABLE:
        raise InvalidInput(
            f"{number} is not a mobile number; an SMS needs a mobile number.", field="phone"
        )
    return number
