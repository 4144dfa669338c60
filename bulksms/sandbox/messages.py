"""Reading and checking a Message API send request the way Plivo does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from bulksms.errors import TextTooLong
from bulksms.recipients import SENDER_RULE, is_valid_sender
from bulksms.segments import TextFacts, analyse, check_limits

MAX_DESTINATIONS = 1000

# The number a powerpack (number pool) request is sent from.
POOL_NUMBER = "14155550000"

_NUMBER = re.compile(r"[0-9]{7,15}")


class ApiError(Exception):
    """A Message API request refused with Plivo's status and error text."""

    def __init__(
        self, status: int, error: str, *, invalid_number: list[str] | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.invalid_number = invalid_number


@dataclass(frozen=True)
class SendRequest:
    """A checked send request: unique valid destinations as digits, no ``+``."""

    src: str | None
    powerpack_uuid: str | None
    destinations: tuple[str, ...]
    invalid_numbers: tuple[str, ...]
    text: str
    shape: TextFacts
    callback_url: str | None
    callback_method: str

    @property
    def from_number(self) -> str:
        """The sender as Plivo reports it: digits without ``+``, or the name."""
        if self.src is None:
            return POOL_NUMBER

        return _strip_plus(self.src)


def parse_send_request(body: Mapping[str, Any]) -> SendRequest:
    """Check ``body`` as Plivo would; raise :class:`ApiError` (400) if wrong."""
    dst = _required_string(body, "dst")
    text = _required_string(body, "text")
    src = _optional_string(body, "src")
    powerpack_uuid = _optional_string(body, "powerpack_uuid")
    if (src is None) == (powerpack_uuid is None):
        raise ApiError(
            400, "specify either src or powerpack_uuid to send a message, not both"
        )

    if src is not None and not is_valid_sender(src):
        raise ApiError(400, f"invalid src {src!r}: {SENDER_RULE}")

    message_type = body.get("type", "sms")
    if message_type != "sms":
        raise ApiError(400, "the sandbox sends type sms only")

    callback_url, callback_method = _callback(body)

    shape = analyse(text)
    try:
        check_limits(shape)
    except TextTooLong as exc:
        raise ApiError(400, f"text too long: {exc.message}") from None

    destinations, invalid = _split_destinations(dst)
    if src is not None and _strip_plus(src) in destinations:
        raise ApiError(400, "destination number cannot be same as source number")

    if not destinations:
        raise ApiError(
            400, "no valid destination number in dst", invalid_number=invalid
        )

    return SendRequest(
        src=src,
        powerpack_uuid=powerpack_uuid,
        destinations=tuple(destinations),
        invalid_numbers=tuple(invalid),
        text=text,
        shape=shape,
        callback_url=callback_url,
        callback_method=callback_method,
    )


def _required_string(body: Mapping[str, Any], name: str) -> str:
    value = _optional_string(body, name)
    if value is None:
        raise ApiError(400, f"{name} parameter not present")

    return value


def _optional_string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None

    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be a string")

    return value


def _callback(body: Mapping[str, Any]) -> tuple[str | None, str]:
    url = _optional_string(body, "url")
    method = (_optional_string(body, "method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ApiError(400, "method must be GET or POST")

    if url is not None:
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiError(400, "url must be an http or https URL")

    return url, method


def _split_destinations(dst: str) -> tuple[list[str], list[str]]:
    """Unique valid numbers (digits) and unique invalid entries (as given)."""
    entries = dst.split("<")
    if "" in entries:
        raise ApiError(400, "dst has an empty destination number")

    if len(entries) > MAX_DESTINATIONS:
        raise ApiError(
            400,
            f"too many destination numbers: {len(entries)}, "
            f"at most {MAX_DESTINATIONS} per request",
        )

    # dicts keep the first-seen order and drop repeats.
    valid: dict[str, None] = {}
    invalid: dict[str, None] = {}
    for entry in entries:
        number = _strip_plus(entry)
        if _NUMBER.fullmatch(number):
            valid[number] = None
        else:
            invalid[entry] = None

    return list(valid), list(invalid)


def _strip_plus(number: str) -> str:
    return number[1:] if number.startswith("+") else number
