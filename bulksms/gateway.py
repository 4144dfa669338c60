"""The Plivo gateway: the only module that imports ``plivo``.

It sends one batch, times and logs the call, and translates every SDK and
``requests`` exception, here and nowhere else, into the service's closed set of
submission outcomes (``bulksms.errors``): rejected, throttled, unavailable (never
reached Plivo: safe to retry) and ambiguous (may have been queued: never resent
automatically).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import plivo
import plivo.rest.client
import plivo.utils
import requests
from plivo import exceptions as plivo_errors
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)

from bulksms.errors import (
    SubmissionAmbiguous,
    SubmissionError,
    SubmissionRejected,
    SubmissionThrottled,
    SubmissionUnavailable,
)

log = logging.getLogger(__name__)

PLIVO_API_BASE_URI = "https://api.plivo.com/v1/Account"

_STATUS_IN_MESSAGE = re.compile(r"Received status code (\d{3})")

# Errors the SDK raises for a definite refusal: the same request fails again.
_REJECTIONS: tuple[type[Exception], ...] = (
    plivo_errors.ValidationError,
    plivo_errors.AuthenticationError,
    plivo_errors.ForbiddenError,
    plivo_errors.ResourceNotFoundError,
    plivo_errors.InvalidRequestError,
)


@dataclass(frozen=True)
class Submission:
    """What Plivo answered to an accepted batch."""

    api_id: str
    message_uuids: list[str]
    invalid_numbers: list[str]


@dataclass(frozen=True)
class Sender:
    """Exactly one of a sender number or id, or a Powerpack number pool."""

    src: str | None = None
    powerpack_uuid: str | None = None


class PlivoGateway:
    """Sends batches with the official SDK, one client per thread.

    A client holds one ``requests.Session`` whose pool keeps 10 connections;
    a client per thread keeps concurrent batches from discarding connections.
    """

    def __init__(
        self,
        auth_id: str,
        auth_token: str,
        *,
        timeout: float,
        api_url: str | None = None,
    ) -> None:
        self._auth_id = auth_id
        self._auth_token = auth_token
        self.timeout = timeout
        self._local = threading.local()

        # The SDK has no option for another host, and resets client.base_uri on
        # every request; it reads this module global at call time instead. This
        # is the one place the service points it at another Plivo-compatible
        # host (the sandbox). It is process-wide: one API host per process.
        plivo.rest.client.PLIVO_API_BASE_URI = (
            f"{api_url}/v1/Account" if api_url else PLIVO_API_BASE_URI
        )

    def _client(self) -> plivo.RestClient:
        client: plivo.RestClient | None = getattr(self._local, "client", None)
        if client is None:
            client = plivo.RestClient(
                self._auth_id, self._auth_token, timeout=self.timeout
            )
            # The SDK drops a 429's headers; a response hook keeps Retry-After.
            client.session.hooks["response"].append(self._remember_retry_after)
            self._local.client = client
        return client

    def _remember_retry_after(
        self, response: requests.Response, *args: object, **kwargs: object
    ) -> None:
        self._local.retry_after = response.headers.get("Retry-After")

    def send(
        self,
        destinations: Sequence[str],
        text: str,
        sender: Sender,
        *,
        report_url: str,
    ) -> Submission:
        """Submit one batch (at most 1,000 destinations) and return Plivo's answer.

        Raises a ``SubmissionError`` subclass saying whether a retry is safe.
        """
        started = time.monotonic()
        self._local.retry_after = None
        try:
            response = self._client().messages.create(
                src=sender.src,
                powerpack_uuid=sender.powerpack_uuid,
                dst="<".join(destinations),
                text=text,
                url=report_url,
                method="POST",
                log="true",
            )
        except Exception as exc:
            error = translate(exc)
            if isinstance(error, SubmissionThrottled):
                error.retry_after = _seconds(self._local.retry_after)
            log.info(
                "plivo: message request for %d destinations failed in %.0f ms: %s",
                len(destinations),
                (time.monotonic() - started) * 1000,
                error.code,
            )
            raise error from exc

        submission = Submission(
            api_id=str(response.api_id),
            message_uuids=list(response.message_uuid),
            invalid_numbers=list(getattr(response, "invalid_number", None) or []),
        )
        log.info(
            "plivo: message request %s queued %d of %d destinations in %.0f ms",
            submission.api_id,
            len(submission.message_uuids),
            len(destinations),
            (time.monotonic() - started) * 1000,
        )
        return submission

    def close(self) -> None:
        client: plivo.RestClient | None = getattr(self._local, "client", None)
        if client is not None:
            client.session.close()


def translate(exc: Exception) -> SubmissionError:
    """Map an exception from the SDK or ``requests`` to a submission outcome."""
    if isinstance(exc, SubmissionError):
        return exc
    if isinstance(exc, _REJECTIONS):
        return SubmissionRejected(f"Plivo refused the batch: {exc}")
    if isinstance(exc, plivo_errors.PlivoServerError):
        return SubmissionAmbiguous(f"Plivo answered 500: {exc}")
    if isinstance(exc, plivo_errors.PlivoRestError):
        return _from_status_text(exc)
    if isinstance(exc, requests.ConnectionError) and _never_connected(exc):
        return SubmissionUnavailable(f"could not connect to Plivo: {exc}")
    if isinstance(exc, requests.RequestException):
        # A read timeout, a dropped connection or a garbled answer: the request
        # may have reached Plivo and been queued.
        return SubmissionAmbiguous(f"no answer from Plivo: {type(exc).__name__}")
    return SubmissionAmbiguous(f"unexpected error: {type(exc).__name__}: {exc}")


def _from_status_text(exc: Exception) -> SubmissionError:
    # For 429 and 502-504 the SDK keeps only the status code in its message.
    match = _STATUS_IN_MESSAGE.search(str(exc))
    status = int(match.group(1)) if match else None
    if status == 429:
        return SubmissionThrottled("Plivo answered 429 Too Many Requests")
    if status is not None and 400 <= status < 500:
        return SubmissionRejected(f"Plivo answered {status}")
    return SubmissionAmbiguous(f"Plivo answered {status or 'an unexpected status'}")


def _seconds(retry_after: str | None) -> float | None:
    # Plivo sends whole seconds; an HTTP date would be unusual from an API.
    try:
        return max(0.0, float(retry_after)) if retry_after else None
    except ValueError:
        return None


def _never_connected(exc: requests.ConnectionError) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(
        reason, NewConnectionError | NameResolutionError | ConnectTimeoutError
    )


# Each family: the signature headers, one per key, and the nonce header.
SIGNATURE_FAMILIES = (
    (
        "V3",
        ("X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3"),
        "X-Plivo-Signature-V3-Nonce",
    ),
    (
        "V2",
        ("X-Plivo-Signature-V2", "X-Plivo-Signature-Ma-V2"),
        "X-Plivo-Signature-V2-Nonce",
    ),
)


V2_NONCE_HEADER = "X-Plivo-Signature-V2-Nonce"
SIGNATURE_HEADERS = tuple(
    header
    for _, signature_headers, nonce in SIGNATURE_FAMILIES
    for header in (*signature_headers, nonce)
)


def has_signature(headers: Mapping[str, str]) -> bool:
    """True when the request carries at least one complete signature family."""
    return any(
        headers.get(nonce) and any(headers.get(h) for h in signature_headers)
        for _, signature_headers, nonce in SIGNATURE_FAMILIES
    )


def verified_family(
    method: str,
    url: str,
    params: Mapping[str, str | list[str]],
    headers: Mapping[str, str],
    key: str,
) -> str | None:
    """Check a callback's Plivo signature with the SDK's validators.

    ``url`` must be the public URL Plivo called, query included. The strongest
    family present decides alone: V2 covers neither the body nor the query, so
    falling back to it would let a changed field through. Within the family, a
    match of either header (account or main account) is enough, and a header
    may hold several comma-separated signatures. An exception inside the SDK
    (it raises on some non-ASCII input) counts as a mismatch.

    Returns the family that verified the request ("V3" or "V2"), or None.
    """
    for family, signature_headers, nonce_header in SIGNATURE_FAMILIES:
        nonce = headers.get(nonce_header)
        signatures = [headers[h] for h in signature_headers if headers.get(h)]
        if not nonce or not signatures:
            continue
        valid = any(
            _validate(family, method, url, params, nonce, signature, key)
            for signature in signatures
        )
        return family if valid else None
    return None


def _validate(
    family: str,
    method: str,
    url: str,
    params: Mapping[str, str | list[str]],
    nonce: str,
    signature: str,
    key: str,
) -> bool:
    try:
        if family == "V3":
            # The SDK mutates the params it is given; it gets a copy.
            candidates = ",".join(part.strip() for part in signature.split(","))
            return bool(
                plivo.utils.validate_v3_signature(
                    method, url, nonce, key, candidates, params=dict(params)
                )
            )
        return any(
            plivo.utils.validate_signature(url, nonce, candidate.strip(), key)
            for candidate in signature.split(",")
        )
    except Exception:
        log.warning("webhook: the signature validator raised; treating it as invalid")
        return False
