"""E.164 numbers and SMS parts (integrations.md §3.4, §3.5): pure rules, no database."""

import pytest

from app.errors import InvalidInput
from app.notifications.text import e164, is_gsm7, sms_number, sms_size, to_gsm7


@pytest.mark.parametrize(
    "typed",
    [
        "082 123 4567",
        "+27 82 123 4567",
        "27821234567",
        "0821234567",
        "082-123-4567",
        "(082) 123 4567",
        "0027821234567",
        " +27821234567 ",
    ],
)
def test_south_african_numbers_become_e164(typed):
    assert e164(typed) == "+27821234567"


def test_a_number_from_abroad_keeps_its_country_code():
    assert e164("+44 7911 123456") == "+447911123456"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "A phone number is required."),
        ("   ", "A phone number is required."),
        ("abc", "'abc' is not a phone number."),
        ("call 082 123 4567", "'call 082 123 4567' is not a phone number."),
        ("12345", "'12345' is not a valid phone number."),
        ("+27 82 123 45678 9", "'+27 82 123 45678 9' is not a valid phone number."),
    ],
)
def test_junk_is_refused_with_a_clear_message(typed, message):
    with pytest.raises(InvalidInput) as refused:
        e164(typed)
    assert refused.value.message == message
    assert refused.value.field == "phone"


def test_a_landline_cannot_receive_an_sms():
    assert e164("011 555 1234") == "+27115551234"
    with pytest.raises(InvalidInput, match="not a mobile number"):
        sms_number("011 555 1234")
    assert sms_number("083 555 0101") == "+27835550101"


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        # Extension characters (^ { } [ ] ~ \ | €) take two septets each.
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("a" * 159 + "^", "GSM-7", 161, 2),
        # An escape pair is never split: 152 + 2 does not fit a 153-septet part.
        ("a" * 152 + "[" + "a" * 152, "GSM-7", 306, 3),
        # Accented letters of the GSM alphabet stay GSM-7.
        ("é" * 160, "GSM-7", 160, 1),
        # One character outside GSM-7 (an emoji takes two UTF-16 units) makes it UCS-2.
        ("a" * 68 + "😀", "UCS-2", 70, 1),
        ("a" * 69 + "😀", "UCS-2", 71, 2),
        ("ë" * 70, "UCS-2", 70, 1),
        ("ë" * 71, "UCS-2", 71, 2),
        ("ë" * 134, "UCS-2", 134, 2),
        ("ë" * 135, "UCS-2", 135, 3),
    ],
    ids=[
        "empty",
        "160 GSM-7",
        "161 GSM-7",
        "306 GSM-7",
        "307 GSM-7",
        "80 euro signs",
        "81 euro signs",
        "extension at 160",
        "escape pair at a boundary",
        "GSM accents",
        "emoji 70",
        "emoji 71",
        "70 UCS-2",
        "71 UCS-2",
        "134 UCS-2",
        "135 UCS-2",
    ],
)
def test_segments_are_counted_as_the_network_bills_them(text, encoding, units, segments):
    size = sms_size(text)
    assert (size.encoding, size.units, size.segments) == (encoding, units, segments)


def test_typographic_characters_and_accents_get_gsm7_stand_ins():
    text = to_gsm7("Zoë’s “Fibre 100” – R799… done")
    assert text == 'Zoe\'s "Fibre 100" - R799... done'
    assert is_gsm7(text)
    assert to_gsm7("Émile in Müller") == "Émile in Müller"  # in the GSM alphabet already
    assert not is_gsm7(to_gsm7("Thanks 😀"))  # no stand-in: the message goes as UCS-2
