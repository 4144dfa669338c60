"""The service's own exception tree.

Every error a user can cause carries the HTTP status and the machine-readable
code it is answered with, so one handler renders them all in the same JSON shape.
Errors from Plivo's SDK and from ``requests`` are translated into the
``Submission*`` branch once, in the gateway, and nowhere else.
"""

from __future__ import annotations

from typing import Any


class BulkSmsError(Exception):
    """Root of every error the service raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(BulkSmsError):
    status = 400
    code = "invalid_request"


class Unauthorized(BulkSmsError):
    status = 401
    code = "unauthorized"


class SignatureMismatch(BulkSmsError):
    status = 403
    code = "invalid_signature"


class NotFound(BulkSmsError):
    status = 404
    code = "not_found"


class Conflict(BulkSmsError):
    status = 409
    code = "conflict"


class PayloadTooLarge(BulkSmsError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(BulkSmsError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(BulkSmsError):
    status = 422
    code = "unprocessable"


class NothingToSend(Unprocessable):
    code = "no_sendable_recipients"


class TextTooLong(Unprocessable):
    """The text is over Plivo's per-message limit; Plivo would answer 400."""

    code = "text_too_long"

    def __init__(self, message: str, *, limit: int, count: int) -> None:
        super().__init__(message, details={"limit": limit, "count": count})
        self.limit = limit
        self.count = count


class Unavailable(BulkSmsError):
    """Something a send needs is unreachable (the queue, or the counters that
    pace Plivo calls): the request was refused before anything was stored, and
    may be sent again."""

    status = 503
    code = "unavailable"


class QueueUnavailable(Unavailable):
    code = "queue_unavailable"


class PacingUnavailable(Unavailable):
    code = "pacing_unavailable"


class SubmissionError(BulkSmsError):
    """A batch could not be handed to Plivo; subclasses say whether to retry."""

    status = 502
    code = "submission_failed"


class SubmissionRejected(SubmissionError):
    """Plivo refused the request (4xx other than 429): resending it unchanged fails
    the same way."""

    code = "submission_rejected"


class SubmissionThrottled(SubmissionError):
    """Plivo answered 429: nothing was queued, retry after a pause."""

    code = "submission_throttled"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SubmissionUnavailable(SubmissionError):
    """The request never reached Plivo (connect failure): safe to retry."""

    code = "submission_unavailable"


class SubmissionAmbiguous(SubmissionError):
    """The request may have been queued (read timeout, 5xx): never resend it
    automatically, since Plivo has no idempotency key."""

    code = "submission_ambiguous"
