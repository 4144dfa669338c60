"""The last line of defence in the logs: every record is scanned for phone numbers,
which are masked, and for nothing else, so durations and ids stay readable."""

from __future__ import annotations

import logging

import pytest

from bulksms import logs
from bulksms.logs import mask_numbers


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("sent to +14155550123", "sent to +1415****123"),
        ("sent to +442071838750.", "sent to +4420****750."),
        ("dst=14155550123<14155550124", "dst=1415****123<1415****124"),
        ("national 4155550123, then", "national 4155****123, then"),
        ("(+4915123456789)", "(+4915****789)"),
    ],
)
def test_a_phone_number_is_masked_keeping_its_ends(line: str, masked: str) -> None:
    assert mask_numbers(line) == masked


@pytest.mark.parametrize(
    "line",
    [
        "Sleeping for 0.999501746852017 seconds as it raised ConnectionError",
        "retrying in 12345678.25 s",
        "pacing: waited 1.23456789e-05 s",
        "campaign cmp_01JF0123456789ABCDEFGHJKMN accepted",
        "batch-123456789 settled",
        "batch 12 of 1234567 recipients",
        "a run too long for E.164: 12345678901234567",
    ],
)
def test_a_number_that_is_no_phone_number_is_left_as_it_is(line: str) -> None:
    assert mask_numbers(line) == line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_formatted_record_masks_numbers_in_its_arguments(
    log_format: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A root logger without handlers, as in a process started afresh.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)

    logs.configure(log_format, "INFO")
    logging.getLogger("bulksms.test").info(
        "to %s, sleeping for %s", "+14155550123", 0.999501746852017
    )

    logged = capsys.readouterr().err
    assert "to +1415****123, sleeping for 0.999501746852017" in logged
