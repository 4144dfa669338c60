"""Delivery-status rules and inbound keywords, as pure functions: what one Plivo
delivery report or one inbound text means, before anything is stored."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bulksms.delivery import (
    FINAL_RANK,
    OPEN_STATUSES,
    PLIVO_STATUSES,
    RANKS,
    MalformedReport,
    parse_report,
)
from bulksms.states import DeliveryStatus
from bulksms.suppressions import Intent, intent_of

# A status callback as Plivo posts it (form fields, every value a string).
PLIVO_REPORT = {
    "MessageUUID": "1f0c6a5e-9b1e-11ef-8f6a-0242ac110002",
    "ParentMessageUUID": "1f0c6a5e-9b1e-11ef-8f6a-0242ac110002",
    "To": "14155550123",
    "From": "14155550100",
    "Status": "undelivered",
    "ErrorCode": "30",
    "Units": "2",
    "TotalRate": "0.00650",
    "TotalAmount": "0.01300",
    "MCC": "310",
    "MNC": "260",
    "Sequence": "3",
    "PartInfo": "1 of 1",
    "MessageTime": "2026-12-03 10:00:00+00:00",
    "QueuedTime": "2026-12-03 10:00:00+00:00",
    "SentTime": "2026-12-03 10:00:01+00:00",
    "DeliveryReportTime": "2026-12-03 10:00:04+00:00",
    "PowerpackUUID": "",
    "Type": "sms",
}


def test_a_plivo_report_is_read_field_by_field() -> None:
    report = parse_report(PLIVO_REPORT)

    assert report.message_uuid == PLIVO_REPORT["MessageUUID"]
    assert report.plivo_status == "undelivered"
    assert report.status is DeliveryStatus.UNDELIVERED
    assert report.sequence == 3
    assert report.to == "14155550123"
    assert report.destination == "+14155550123"
    assert report.error_code == "30"
    assert report.units == 2
    assert report.amount == Decimal("0.01300")
    # Every field is kept as received, unknown ones included.
    assert report.fields == PLIVO_REPORT


@pytest.mark.parametrize(
    ("plivo_status", "status"),
    [
        ("queued", DeliveryStatus.QUEUED),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("undelivered", DeliveryStatus.UNDELIVERED),
        ("failed", DeliveryStatus.FAILED),
        ("rejected", DeliveryStatus.REJECTED),
        ("DELIVERED", DeliveryStatus.DELIVERED),
        (" Sent ", DeliveryStatus.SENT),
        ("read", None),
        ("accepted", None),
    ],
)
def test_every_plivo_status_word_is_mapped_and_unknown_ones_map_to_none(
    plivo_status: str, status: DeliveryStatus | None
) -> None:
    report = parse_report({**PLIVO_REPORT, "Status": plivo_status})

    assert report.status is status
    assert report.plivo_status == plivo_status.strip().lower()


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"MessageUUID": ""}, "MessageUUID"),
        ({"MessageUUID": "   "}, "MessageUUID"),
        ({"Status": ""}, "Status"),
    ],
)
def test_a_report_without_uuid_or_status_is_malformed_and_says_which(
    missing: dict[str, str], message: str
) -> None:
    with pytest.raises(MalformedReport, match=message):
        parse_report({**PLIVO_REPORT, **missing})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"Sequence": "", "Units": "", "TotalAmount": ""}, (0, None, None)),
        ({"Sequence": "x", "Units": "1.5", "TotalAmount": "n/a"}, (0, None, None)),
        ({"Sequence": "12", "Units": "7", "TotalAmount": "1E+2"}, (12, 7, 100)),
        (
            {"Sequence": "2147483647", "Units": "100"},
            (2**31 - 1, 100, Decimal("0.013")),
        ),
        (
            {"Sequence": str(2**31), "Units": "101", "TotalAmount": "1E+7"},
            (0, None, None),
        ),
        ({"Sequence": "-5", "Units": "-5", "TotalAmount": "-0.0065"}, (0, None, None)),
        ({"Sequence": "nan", "Units": "NaN", "TotalAmount": "NaN"}, (0, None, None)),
        ({"Sequence": "1e309", "TotalAmount": "Infinity"}, (0, 2, None)),
        ({"TotalAmount": "1e30"}, (3, 2, None)),
        ({"TotalAmount": "1e400"}, (3, 2, None)),
        ({"TotalAmount": "9999999.99999"}, (3, 2, Decimal("9999999.99999"))),
        ({"Sequence": "\u0663", "Units": "\u0662"}, (0, None, Decimal("0.013"))),
        ({"Sequence": " 4 ", "Units": "+2", "TotalAmount": "0"}, (4, None, 0)),
    ],
    ids=[
        "empty",
        "unreadable",
        "readable",
        "at-the-limits",
        "too-large",
        "negative",
        "nan",
        "infinite",
        "huge-amount",
        "amount-beyond-float",
        "amount-at-column-limit",
        "arabic-indic-digits",
        "signs-and-spaces",
    ],
)
def test_numbers_no_message_can_have_never_refuse_a_report_and_are_dropped(
    changes: dict[str, str], expected: tuple[int, int | None, Decimal | None]
) -> None:
    report = parse_report({**PLIVO_REPORT, **changes})

    assert (report.sequence, report.units, report.amount) == expected


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"MessageUUID": "u" * 65}, "MessageUUID"),
        ({"Status": "s" * 21}, "Status"),
        ({"To": "1" * 21}, "To"),
        ({"ErrorCode": "9" * 17}, "ErrorCode"),
        ({"MessageUUID": "1f0c6a5e\x00"}, "MessageUUID"),
        ({"To": "1415\x00"}, "To"),
    ],
)
def test_a_field_its_column_cannot_hold_makes_the_report_malformed_naming_it(
    changes: dict[str, str], field: str
) -> None:
    with pytest.raises(MalformedReport, match=field):
        parse_report({**PLIVO_REPORT, **changes})


def test_fields_at_their_column_limits_are_read_as_given() -> None:
    at_limits = {
        "MessageUUID": "u" * 64,
        "Status": "s" * 20,
        "To": "1" * 20,
        "ErrorCode": "9" * 16,
    }

    report = parse_report({**PLIVO_REPORT, **at_limits})

    assert report.message_uuid == at_limits["MessageUUID"]
    assert report.plivo_status == at_limits["Status"]
    assert report.to == at_limits["To"]
    assert report.error_code == at_limits["ErrorCode"]


@pytest.mark.parametrize(
    ("to", "destination"),
    [("14155550123", "+14155550123"), ("+14155550123", "+14155550123"), ("", None)],
)
def test_the_destination_is_to_in_e164_whether_plivo_sends_the_plus_or_not(
    to: str, destination: str | None
) -> None:
    assert parse_report({**PLIVO_REPORT, "To": to}).destination == destination


def test_a_blank_error_code_is_no_error_code() -> None:
    assert parse_report({**PLIVO_REPORT, "ErrorCode": "  "}).error_code is None


def test_every_status_has_a_rank_and_exactly_the_plivo_terminal_ones_are_final() -> (
    None
):
    assert set(RANKS) == set(DeliveryStatus)
    final = {status for status, rank in RANKS.items() if rank == FINAL_RANK}
    assert final == {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED,
        DeliveryStatus.FAILED,
        DeliveryStatus.REJECTED,
    }
    assert max(RANKS.values()) == FINAL_RANK


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        (DeliveryStatus.AWAITING_REPORT, DeliveryStatus.QUEUED),
        (DeliveryStatus.QUEUED, DeliveryStatus.SENT),
        (DeliveryStatus.SENT, DeliveryStatus.NO_REPORT),
        (DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
        (DeliveryStatus.NO_REPORT, DeliveryStatus.UNDELIVERED),
        (DeliveryStatus.QUEUED, DeliveryStatus.FAILED),
    ],
)
def test_a_status_only_moves_forward_along_plivo_s_life_cycle(
    earlier: DeliveryStatus, later: DeliveryStatus
) -> None:
    assert RANKS[earlier] < RANKS[later]


def test_the_report_timeout_ends_only_statuses_still_waiting_for_news() -> None:
    assert set(OPEN_STATUSES) == {
        status
        for status, rank in RANKS.items()
        if rank < RANKS[DeliveryStatus.NO_REPORT]
    }
    assert set(PLIVO_STATUSES.values()) == set(DeliveryStatus) - {
        DeliveryStatus.AWAITING_REPORT,
        DeliveryStatus.NO_REPORT,
    }


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("STOP", Intent.OPT_OUT),
        ("stop", Intent.OPT_OUT),
        ("Stop", Intent.OPT_OUT),
        ("  sToP \n", Intent.OPT_OUT),
        ("Stop.", Intent.OPT_OUT),
        ("STOP!", Intent.OPT_OUT),
        ("end", Intent.OPT_OUT),
        ("Quit", Intent.OPT_OUT),
        ("cancel", Intent.OPT_OUT),
        ("Unsubscribe", Intent.OPT_OUT),
        ("STOPALL", Intent.OPT_OUT),
        ("start", Intent.OPT_IN),
        ("Unstop", Intent.OPT_IN),
        ("YES", Intent.OPT_IN),
        ("stop by later", Intent.NONE),
        ("please stop", Intent.NONE),
        ("don't stop", Intent.NONE),
        ("STOPPED", Intent.NONE),
        ("yes please, start", Intent.NONE),
        ("help", Intent.NONE),
        ("", Intent.NONE),
        ("   ", Intent.NONE),
    ],
)
def test_keywords_count_only_as_the_whole_message_in_any_case(
    text: str, intent: Intent
) -> None:
    assert intent_of(text) is intent


@pytest.mark.parametrize(
    ("text", "plivo_intent", "intent"),
    [
        ("please take me off your list", "optout", Intent.OPT_OUT),
        ("resume", "optin", Intent.OPT_IN),
        ("hello", " OptOut ", Intent.OPT_OUT),
        ("START", "optout", Intent.OPT_OUT),
        ("STOP", "optin", Intent.OPT_IN),
        ("STOP", "help", Intent.OPT_OUT),
        ("stop by later", "help", Intent.NONE),
        ("stop by later", "", Intent.NONE),
    ],
)
def test_plivo_s_message_intent_wins_over_the_text(
    text: str, plivo_intent: str, intent: Intent
) -> None:
    assert intent_of(text, plivo_intent) is intent
