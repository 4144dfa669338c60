"""Delivery-status rules: what a Plivo report means for a recipient.

A recipient's status only moves forward: awaiting_report < queued < sent <
no_report < {delivered, undelivered, failed, rejected}. Reports of equal rank are
ordered by Plivo's ``Sequence``, so the outcome does not depend on the order in
which reports arrive: a final status is never replaced by a queued or sent one,
and only by a final one that Plivo generated later (a carrier's late receipt).
``no_report`` (set when no report came within the report timeout) yields to a
late final report, which is better information, but not to a late queued or
sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bulksms.states import DeliveryStatus

RANKS = {
    DeliveryStatus.AWAITING_REPORT: 0,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.NO_REPORT: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.UNDELIVERED: 4,
    DeliveryStatus.FAILED: 4,
    DeliveryStatus.REJECTED: 4,
}
FINAL_RANK = 4

# Plivo's status words that a report may carry, mapped to ours. A word not here
# is stored with the report and changes no recipient.
PLIVO_STATUSES = {
    "queued": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "rejected": DeliveryStatus.REJECTED,
}

# Plivo's error code for "the recipient opted out with STOP".
OPTED_OUT_ERROR = "200"

# The most the store's columns hold of a report (bulksms/models.py): a report
# that does not fit is refused before anything is stored, where PostgreSQL would
# otherwise fail the insert.
MAX_LENGTHS = {"MessageUUID": 64, "Status": 20, "To": 20, "ErrorCode": 16}
INTEGER_MAX = 2**31 - 1
# Plivo bills one unit per segment, and its longest text (1,600 GSM-7 characters
# or 737 UCS-2 units) is 11 segments: a count far above that is no real bill.
MAX_UNITS = 100
# Numeric(12, 5): five decimal places and seven digits before the point.
AMOUNT_STEP = Decimal("0.00001")
AMOUNT_LIMIT = Decimal(10) ** 7

# Statuses still waiting for news; the report-timeout sweep ends them.
OPEN_STATUSES = (
    DeliveryStatus.AWAITING_REPORT,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
)


@dataclass(frozen=True)
class DeliveryReport:
    """The fields of one Plivo status callback the ledger acts on."""

    message_uuid: str
    plivo_status: str
    sequence: int
    to: str | None
    error_code: str | None
    units: int | None
    amount: Decimal | None
    fields: dict[str, str]

    @property
    def status(self) -> DeliveryStatus | None:
        return PLIVO_STATUSES.get(self.plivo_status)

    @property
    def destination(self) -> str | None:
        """``To`` in E.164: Plivo sends it without the ``+``."""
        if not self.to:
            return None
        return self.to if self.to.startswith("+") else f"+{self.to}"


class MalformedReport(ValueError):
    """A required field is missing or unreadable; the message names it."""


def parse_report(fields: dict[str, str]) -> DeliveryReport:
    """Read a report's fields; ``MalformedReport`` names the first one missing or
    too large to store.

    Numbers never refuse a report: the status matters more, and a refused report
    is lost after Plivo's last retry. A ``Sequence`` that is not a whole number
    from 0 to 2^31 - 1 counts as 0, the earliest, so it never overrides a report
    of equal rank that Plivo numbered. ``Units`` and ``TotalAmount`` that no
    single message can have (negative, unreadable, too large) are dropped, so
    they never reach the campaign's cost.
    """
    message_uuid = _stored("MessageUUID", fields.get("MessageUUID", "").strip())
    if not message_uuid:
        raise MalformedReport("MessageUUID is missing")
    status = _stored("Status", fields.get("Status", "").strip().lower())
    if not status:
        raise MalformedReport("Status is missing")

    return DeliveryReport(
        message_uuid=message_uuid,
        plivo_status=status,
        sequence=_whole_number(fields.get("Sequence"), INTEGER_MAX) or 0,
        to=_stored("To", fields.get("To", "").strip()) or None,
        error_code=_stored("ErrorCode", fields.get("ErrorCode", "").strip()) or None,
        units=_whole_number(fields.get("Units"), MAX_UNITS),
        amount=_amount(fields.get("TotalAmount")),
        fields=fields,
    )


def _stored(name: str, value: str) -> str:
    """``value`` once it is known to fit the column ``name`` is stored in."""
    if "\x00" in value:
        raise MalformedReport(f"{name} holds a NUL character")
    limit = MAX_LENGTHS[name]
    if len(value) > limit:
        raise MalformedReport(f"{name} is over {limit} characters")
    return value


def _whole_number(value: str | None, maximum: int) -> int | None:
    """``value`` as an integer from 0 to ``maximum``, else None."""
    # Digits only: int() would also take "-5", "+5", "1_000" and Arabic digits.
    if value is None or not value.isascii() or not value.strip().isdigit():
        return None
    number = int(value)
    return number if number <= maximum else None


def _amount(value: str | None) -> Decimal | None:
    amount = _decimal(value)
    if amount is None or not amount.is_finite() or not 0 <= amount < AMOUNT_LIMIT:
        return None
    # Checked as the column rounds it: 9999999.999999 becomes 10^7.
    return amount if amount.quantize(AMOUNT_STEP) < AMOUNT_LIMIT else None


def _decimal(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None
