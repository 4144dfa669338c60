"""The demo's own verdict: the account, and each recipient against the sandbox."""

from __future__ import annotations

from typing import Any

from bulksms.demo import DemoResult, summary


def _campaign() -> dict[str, Any]:
    return {
        "id": "cmp_demo",
        "state": "complete",
        "recipients": {
            "received": 3,
            "invalid": 1,
            "duplicates": 0,
            "suppressed": 0,
            "accepted": 2,
        },
        "batches": [{"state": "submitted"}],
        "submission": {"submitted": 2},
        "statuses": {"delivered": 1, "undelivered": 1},
        "cost": {"amount": "0.0130", "units": 2},
    }


_OUTCOMES = {
    "+14155550101": {"status": "delivered", "error_code": None},
    "+14155550102": {"status": "undelivered", "error_code": 30},
}


def test_recipients_in_the_sandbox_s_statuses_make_the_demo_pass() -> None:
    result = DemoResult(
        _campaign(),
        dict.fromkeys(_OUTCOMES, 1),
        _OUTCOMES,
        {"+14155550101": ("delivered", None), "+14155550102": ("undelivered", "30")},
        "0.0130",
    )

    assert result.outcome_mismatches() == []
    assert result.adds_up
    lines = summary(result)
    assert "2 of 2 accepted recipients end in the status the sandbox decided" in lines
    assert "cost: 0.0130 for 2 units (estimated 0.0130)" in lines
    assert lines[-1] == "the account adds up"


def test_a_recipient_in_another_status_than_the_sandbox_decided_fails_the_demo() -> (
    None
):
    # The campaign's counts add up, but one recipient holds the wrong error
    # code and another was never sent by the sandbox yet shows a status.
    result = DemoResult(
        _campaign(),
        dict.fromkeys(_OUTCOMES, 1),
        _OUTCOMES,
        {
            "+14155550101": ("delivered", None),
            "+14155550102": ("undelivered", "50"),
            "+14155550103": ("delivered", None),
        },
        "0.0130",
    )

    assert result.outcome_mismatches() == ["+14155550102", "+14155550103"]
    assert not result.adds_up
    lines = summary(result)
    assert "1 of 3 accepted recipients end in the status the sandbox decided" in lines
    assert lines[-1] == "MISMATCH: 2 recipients not in the sandbox's status"
