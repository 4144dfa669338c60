"""Recipient normalisation: raw inputs to E.164, with a reason for every drop.

Numbers are parsed with libphonenumber against a default region and kept only when
``is_valid_number`` holds (a merely *possible* number is often undeliverable).
Everything libphonenumber understands works: spaces, dots, dashes, parentheses,
``tel:`` URIs, extensions (dropped), a trunk ``(0)`` after the country code, and
full-width or Arabic-Indic digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

# Longer inputs are not phone numbers; refusing them early keeps a hostile list
# from making the parser do pathological work.
MAX_INPUT_LENGTH = 64

# Plivo's rule for an alphanumeric sender ID.
_SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
# E.164 allows at most 15 digits.
_SENDER_DIGITS = re.compile(r"\+?[0-9]{1,15}")
# A short code: 3 to 8 digits, no "+", as carriers assign them (5 or 6 in the US
# and Canada); libphonenumber knows none of them as a number.
_SHORT_CODE = re.compile(r"[0-9]{3,8}")

SENDER_RULE = (
    "a sender is a phone number in international form, digits with an optional "
    "leading + (+14155550100 or 14155550100), a short code of 3 to 8 digits, or a "
    "sender ID of 1 to 11 letters, digits and spaces with at least one letter"
)

# Stands in for a NUL in an input as stored and shown: PostgreSQL cannot hold a
# NUL in text, and the entry must still be listed as given.
NUL_REPLACEMENT = "\ufffd"

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the exit code",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

# Types that cannot receive SMS as far as libphonenumber knows.
_LANDLINE_TYPES = frozenset({PhoneNumberType.FIXED_LINE})


class Bucket(StrEnum):
    """Where an input ends up at intake; every input lands in exactly one."""

    ACCEPTED = "accepted"
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True, slots=True)
class Recipient:
    """One input as given, what it normalised to, and where it went."""

    input: str
    e164: str | None
    bucket: Bucket
    reason: str | None = None


class InvalidNumber(ValueError):
    """An input is not a valid phone number; the message is the reason."""


def normalise(raw: str, region: str) -> str:
    """Return ``raw`` as an E.164 number, or raise ``InvalidNumber`` saying why."""
    text = raw.strip()
    if not text:
        raise InvalidNumber("empty")
    # libphonenumber would read "+14155550123\x00" as a number and drop the NUL.
    if "\x00" in text:
        raise InvalidNumber("holds a NUL character")
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidNumber(f"longer than {MAX_INPUT_LENGTH} characters")

    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not a phone number")
        raise InvalidNumber(reason) from None

    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(_invalid_reason(number, region))

    # E.164 has no room for an extension, so it is dropped rather than glued on.
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _invalid_reason(number: phonenumbers.PhoneNumber, region: str) -> str:
    numbering_region = phonenumbers.region_code_for_country_code(
        number.country_code or 0
    )
    where = numbering_region if numbering_region != "ZZ" else region
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        return f"too short for region {where}"
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        return f"too long for region {where}"
    return f"not a valid number for region {where}"


def is_landline(e164: str) -> bool:
    """True when libphonenumber classes the number as fixed-line only.

    Such numbers usually cannot receive SMS; numbers it cannot tell apart from
    mobiles (``FIXED_LINE_OR_MOBILE``, as in the US) are not flagged.
    """
    number = phonenumbers.parse(e164, None)
    return phonenumbers.number_type(number) in _LANDLINE_TYPES


def is_valid_sender(sender: str) -> bool:
    """True when Plivo can send from ``sender`` as written (see ``SENDER_RULE``).

    Plivo reads a number of digits alone as international, so ``14155550100`` is
    checked as ``+14155550100`` and a national ``4155550100`` is not a number.
    """
    if _SENDER_ID.fullmatch(sender) or _SHORT_CODE.fullmatch(sender):
        return True
    if not _SENDER_DIGITS.fullmatch(sender):
        return False

    try:
        number = phonenumbers.parse("+" + sender.removeprefix("+"))
    except NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def sender_number(sender: str | None, region: str) -> str | None:
    """The sender in E.164 when it is a phone number, else None (alphanumeric).

    Plivo reads a sender of digits alone (``442079460018``) as an international
    number without its ``+``, so that reading comes before one in ``region``.
    """
    if not sender:
        return None

    text = sender.strip()
    readings = [f"+{text}", text] if text.isascii() and text.isdigit() else [text]
    for reading in readings:
        try:
            return normalise(reading, region)
        except InvalidNumber:
            continue
    return None


def sort_recipients(
    inputs: Iterable[str],
    *,
    region: str,
    sender: str | None = None,
    is_suppressed: Callable[[str], bool] = lambda e164: False,
    exclude_landlines: bool = False,
) -> Iterator[Recipient]:
    """Sort raw inputs into buckets, one ``Recipient`` per input, in input order.

    The first spelling of a number is accepted and later ones are duplicates. The
    sender's own number, in every spelling, is invalid for this campaign, because
    Plivo's SDK refuses a whole batch that contains it. Each input is kept as
    given, except that a NUL becomes ``NUL_REPLACEMENT``.
    """
    seen: set[str] = set()
    own_number = sender_number(sender, region)

    for raw in inputs:
        given = raw.replace("\x00", NUL_REPLACEMENT)
        try:
            e164 = normalise(raw, region)
        except InvalidNumber as exc:
            yield Recipient(given, None, Bucket.INVALID, str(exc))
            continue

        # Checked before duplicates: every spelling of the sender's number is
        # dropped for that reason, not only the first.
        if e164 == own_number:
            yield Recipient(given, e164, Bucket.INVALID, "the sender's own number")
        elif e164 in seen:
            yield Recipient(
                given, e164, Bucket.DUPLICATE, "duplicate of an earlier entry"
            )
        elif is_suppressed(e164):
            yield Recipient(given, e164, Bucket.SUPPRESSED, "opted out")
        elif exclude_landlines and is_landline(e164):
            yield Recipient(given, e164, Bucket.INVALID, "a landline number")
        else:
            yield Recipient(given, e164, Bucket.ACCEPTED)
        seen.add(e164)


def mask(number: str) -> str:
    """Mask a phone number for logs: ``+14155550671`` becomes ``+1415****671``."""
    if len(number) <= 8:
        return "****"
    return f"{number[:5]}****{number[-3:]}"
