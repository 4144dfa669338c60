"""Domain states, as ``str`` enums so they serialise as plain strings."""

from __future__ import annotations

from enum import StrEnum


class BatchState(StrEnum):
    """A batch moves pending → sending → submitted | failed | unknown | cancelled.

    ``sending`` is written before the request leaves, so a crash mid-request is
    visible afterwards; ``unknown`` means Plivo may or may not have queued it.
    """

    PENDING = "pending"
    SENDING = "sending"
    SUBMITTED = "submitted"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


class SubmissionState(StrEnum):
    """Where an accepted recipient stands with Plivo; mirrors its batch, except
    that a recipient whose delivery report came before its batch's answer is
    ``submitted`` whatever that answer says."""

    PENDING = "pending"
    SENDING = "sending"
    SUBMITTED = "submitted"
    FAILED_SUBMISSION = "failed_submission"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


BATCH_TO_SUBMISSION = {
    BatchState.PENDING: SubmissionState.PENDING,
    BatchState.SENDING: SubmissionState.SENDING,
    BatchState.SUBMITTED: SubmissionState.SUBMITTED,
    BatchState.FAILED: SubmissionState.FAILED_SUBMISSION,
    BatchState.UNKNOWN: SubmissionState.UNKNOWN,
    BatchState.CANCELLED: SubmissionState.CANCELLED,
}


class DeliveryStatus(StrEnum):
    """A submitted recipient's delivery status, from Plivo's reports."""

    AWAITING_REPORT = "awaiting_report"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    REJECTED = "rejected"
    NO_REPORT = "no_report"


class CampaignState(StrEnum):
    """Derived from the batches and recipients, never stored.

    ``submitted``: Plivo has every batch it will get, reports are still due.
    ``unconfirmed``: every report is in, but some batches are ``unknown``: no
    report came for any of their recipients; resending them is the operator's
    call.
    """

    QUEUED = "queued"
    SENDING = "sending"
    SUBMITTED = "submitted"
    UNCONFIRMED = "unconfirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    COMPLETE = "complete"
