"""A send or estimate request, validated field by field.

Both input forms, a JSON body and a CSV upload, become one ``SendRequest``; every
problem is an ``InvalidRequest`` that names the field.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import phonenumbers

from bulksms.errors import InvalidRequest
from bulksms.recipients import SENDER_RULE, is_valid_sender

JSON_FIELDS = frozenset(
    {
        "recipients",
        "message",
        "sender",
        "default_region",
        "gsm_safe",
        "exclude_landlines",
    }
)

# A form carries the recipients as a CSV file part instead.
FORM_FIELDS = (JSON_FIELDS - {"recipients"}) | {"file"}

# Column names a contact export uses for the number, compared without case,
# spaces, dashes or underscores. Mobile names come first: when a file has both,
# the mobile column is the one that can receive a text.
PHONE_COLUMNS = (
    "mobile",
    "mobile phone",
    "mobile number",
    "mobile no",
    "cell",
    "cell phone",
    "cell number",
    "msisdn",
    "phone",
    "phone number",
    "phone no",
    # Google Contacts exports "Phone 1 - Value" beside "Phone 1 - Type".
    "phone value",
    "telephone",
    "telephone number",
    "tel",
    "number",
    "contact number",
    "to",
)

# How a form field spells true or false; a checkbox sends "on".
_FORM_TRUE = ("1", "true", "yes", "on")
_FORM_FALSE = ("0", "false", "no", "off")

# The separators contact exports use: spreadsheets where a comma is the decimal
# mark write semicolons, and some tools write tabs or vertical bars.
CSV_DELIMITERS = ",;\t|"

# What the delimiter is guessed from: enough rows to show a pattern, and a bound
# on the sniffer's work whatever the file holds.
_SNIFF_LINES = 20
_SNIFF_CHARACTERS = 8 * 1024


@dataclass(frozen=True)
class SendRequest:
    recipients: list[str]
    message: str
    region: str
    sender: str | None = None
    gsm_safe: bool = False
    exclude_landlines: bool = False


def read_json(data: bytes) -> Any:
    """Parse a JSON body; a key given twice in one object is refused rather than
    the last value quietly winning."""
    try:
        return json.loads(data, object_pairs_hook=_json_object)
    except (ValueError, RecursionError):
        # Deeply nested JSON makes the parser raise RecursionError.
        raise InvalidRequest("the body is not valid JSON") from None


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    _check_given_once(Counter(name for name, _ in pairs))
    return dict(pairs)


def from_json(body: Any, default_region: str) -> SendRequest:
    """Validate a parsed JSON body."""
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")

    _check_known(body, JSON_FIELDS)

    recipients = body.get("recipients")
    if not isinstance(recipients, list):
        raise InvalidRequest("'recipients' must be a list of phone numbers")
    if not recipients:
        raise InvalidRequest("'recipients' must not be empty")
    for position, recipient in enumerate(recipients):
        if not isinstance(recipient, str):
            raise InvalidRequest(
                f"'recipients[{position}]' must be a string, "
                f"got {type(recipient).__name__}"
            )
        # A NUL is left to recipient sorting, which reports that entry invalid.
        _check_unicode(recipient, f"recipients[{position}]")

    return SendRequest(
        recipients=recipients,
        message=_message(body.get("message")),
        region=_region(body.get("default_region"), default_region),
        sender=_sender(body),
        gsm_safe=_flag(body, "gsm_safe"),
        exclude_landlines=_flag(body, "exclude_landlines"),
    )


def from_form(
    form: Mapping[str, Sequence[str]],
    files: Mapping[str, Sequence[IO[bytes]]],
    default_region: str,
) -> SendRequest:
    """Validate a ``multipart/form-data`` request: every field and file part by
    name, with all the values each name was given."""
    given = Counter({name: len(values) for name, values in form.items()})
    given.update({name: len(values) for name, values in files.items()})
    _check_given_once(given)
    if "recipients" in given:
        raise InvalidRequest(
            "'recipients' cannot be a form field: the CSV file is the list (send "
            "'recipients' in a JSON body instead)",
            details={"fields": ["recipients"]},
        )
    if "file" not in files:
        raise InvalidRequest("a CSV file field ('file') is required")
    _check_known(given, FORM_FIELDS)

    (upload,) = files["file"]
    fields = {name: value for name, (value,) in form.items()}
    flags = {
        name: _form_flag(fields, name) for name in ("gsm_safe", "exclude_landlines")
    }
    recipients = list(read_csv_numbers(upload))
    if not recipients:
        raise InvalidRequest("the CSV file has no rows")

    return SendRequest(
        recipients=recipients,
        message=_message(fields.get("message")),
        region=_region(fields.get("default_region"), default_region),
        sender=_sender(fields),
        **flags,
    )


def read_csv_numbers(stream: IO[bytes]) -> Iterator[str]:
    """Yield the phone column of a CSV file: the column named like a phone
    number (``phone``, ``mobile``, ...) when the first row is a header, else the
    first column of every row. Columns are split by whichever of
    ``CSV_DELIMITERS`` the first lines use."""
    # With newline="" only CR and LF end a row, as in the csv module's own
    # reading; Python's line splitting would also cut a row at a form feed or a
    # U+2028 inside a name.
    text = io.TextIOWrapper(
        stream,
        encoding=_csv_encoding(stream),
        errors="replace",
        newline="",
    )
    try:
        yield from _phone_column(_csv_rows(text))
    finally:
        # The upload is the request's to close, not this reader's.
        text.detach()


def _csv_encoding(stream: IO[bytes]) -> str:
    """UTF-16 when the file starts with its byte order mark, as spreadsheets'
    "Unicode text" exports do; else UTF-8, with or without its mark."""
    if not stream.seekable():
        return "utf-8-sig"

    start = stream.tell()
    mark = stream.read(2)
    stream.seek(start)
    if mark in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    return "utf-8-sig"


def _phone_column(rows: Iterator[list[str]]) -> Iterator[str]:
    first = next(rows, None)
    if first is None:
        return

    header = [_column_key(cell) for cell in first]
    column = next(
        (header.index(key) for key in map(_column_key, PHONE_COLUMNS) if key in header),
        None,
    )
    if column is None and _is_header(first):
        # Reading the first column would send to whatever it holds and count the
        # header as a recipient.
        raise InvalidRequest(
            "'file': the first row is a header but no column in it is named like "
            f"a phone number; columns found: {', '.join(first)}; name the number "
            f"column one of: {', '.join(PHONE_COLUMNS)}",
            details={"columns": first, "recognised": list(PHONE_COLUMNS)},
        )
    if column is None:
        column = 0
        if first:
            yield first[0]

    for row in rows:
        if len(row) > column:
            yield row[column]
        elif row:
            yield ""


def _column_key(name: str) -> str:
    """A column name as compared: "Mobile Phone", "mobile_phone" and "Mobile
    Phone 2" are one."""
    return re.sub(r"[\s_\-0-9]+", "", name).casefold()


# Fewer digits than any phone number has: "Phone 1 - Value" is a column name.
_HEADER_MAX_DIGITS = 4


def _is_header(row: list[str]) -> bool:
    """True when no cell of ``row`` holds enough digits to be a phone number."""
    return any(cell.strip() for cell in row) and all(
        sum(character.isdigit() for character in cell) <= _HEADER_MAX_DIGITS
        for cell in row
    )


def _csv_rows(text: IO[str]) -> Iterator[list[str]]:
    """The rows of a CSV text; a malformed row is an ``InvalidRequest`` naming
    the line it starts on.

    Strict reading refuses a stray quote: left alone, an unclosed one would
    quietly make one field of every row after it.
    """
    head = list(itertools.islice(text, _SNIFF_LINES))
    delimiter = _delimiter("".join(head)[:_SNIFF_CHARACTERS])
    reader = csv.reader(itertools.chain(head, text), delimiter=delimiter, strict=True)
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = _csv_problem(str(exc), delimiter)
            raise InvalidRequest(
                f"the CSV file is malformed at line {line}: {problem}",
                details={"line": line},
            ) from None
        yield row


def _delimiter(sample: str) -> str:
    """The one of ``CSV_DELIMITERS`` that splits the sample's lines alike.

    Only the delimiter is taken from the sniffer; quoting stays the strict
    reading's own.
    """
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        # A single column has no delimiter to find, and a comma splits nothing.
        return ","


def _csv_problem(error: str, delimiter: str) -> str:
    """The csv module's strict error, said the way someone editing the file
    sees it."""
    if error == "unexpected end of data":
        return "a quote opened there is never closed"
    if error == f"'{delimiter}' expected after '\"'":
        return (
            "text follows a closing quote (a quote inside a quoted field is "
            'written twice: "")'
        )
    return error


def _check_known(names: Iterable[str], known: frozenset[str]) -> None:
    unknown = sorted(set(names) - known)
    if unknown:
        raise InvalidRequest(
            f"unknown field(s): {', '.join(unknown)}", details={"fields": unknown}
        )


def _check_given_once(given: Counter[str]) -> None:
    # Keeping the first or the last of two values would be a silent guess at
    # which one the caller meant.
    repeated = sorted(name for name, count in given.items() if count > 1)
    if repeated:
        raise InvalidRequest(
            f"field(s) given more than once: {', '.join(repeated)}",
            details={"fields": repeated},
        )


def _message(value: Any) -> str:
    if value is None:
        raise InvalidRequest("'message' is required")
    if not isinstance(value, str):
        raise InvalidRequest("'message' must be a string")
    if _is_blank(value):
        raise InvalidRequest("'message' must not be empty")
    _check_encodable(value, "message")
    return value


def _region(value: Any, default: str) -> str:
    if value is None:
        return default
    if (
        not isinstance(value, str)
        or value.upper() not in phonenumbers.SUPPORTED_REGIONS
    ):
        raise InvalidRequest(
            "'default_region' must be an ISO 3166 region code such as 'US' or 'GB'"
        )
    return value.upper()


def _sender(body: Mapping[str, Any]) -> str | None:
    sender = _optional_text(body, "sender")
    if sender is not None and not is_valid_sender(sender):
        raise InvalidRequest(f"'sender' is not one Plivo can send from: {SENDER_RULE}")
    return sender


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"'{name}' must be a non-empty string")
    _check_encodable(value, name)
    return value.strip()


def _check_encodable(value: str, name: str) -> None:
    # A JSON string may escape a NUL ("\u0000"), which PostgreSQL cannot store
    # in text, or half of a surrogate pair ("\ud800"), which nothing can encode.
    if "\x00" in value:
        raise InvalidRequest(f"'{name}' holds a NUL character")
    _check_unicode(value, name)


def _check_unicode(value: str, name: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"'{name}' is not valid Unicode text (it holds a lone surrogate)"
        ) from None


def _is_blank(text: str) -> bool:
    """True when ``text`` holds only whitespace and invisible format characters.

    A zero-width space, a word joiner, a BOM or a soft hyphen shows nothing, and
    ``gsm_safe`` deletes them all, which would leave Plivo an empty text.
    """
    return not "".join(c for c in text if unicodedata.category(c) != "Cf").strip()


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be true or false")
    return value


def _form_flag(form: Mapping[str, str], name: str) -> bool:
    # A misspelt value must not quietly mean false: "exclude_landlines=ture"
    # would send to the landlines the caller meant to drop.
    value = form.get(name, "false").strip().lower()
    if value in _FORM_TRUE:
        return True
    if value in _FORM_FALSE:
        return False
    raise InvalidRequest(f"'{name}' must be true or false")
