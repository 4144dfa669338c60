"""Recipient normalisation: every spelling to E.164, a reason for every drop, and
every input in exactly one bucket."""

from __future__ import annotations

import pytest

from bulksms.recipients import (
    Bucket,
    InvalidNumber,
    Recipient,
    mask,
    normalise,
    sender_number,
    sort_recipients,
)

FULL_WIDTH = str.maketrans(
    "+0123456789", "\uff0b\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19"
)
ARABIC_INDIC = str.maketrans(
    "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
)
PERSIAN = str.maketrans(
    "0123456789", "\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9"
)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+14155550123", "US", "+14155550123"),
        ("+1 415 555 0123", "US", "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("415.555.0123", "US", "+14155550123"),
        ("1-415-555-0123", "US", "+14155550123"),
        ("  415 555 0123\t", "US", "+14155550123"),
        ("tel:+1-415-555-0123", "US", "+14155550123"),
        ("011 44 20 7946 0018", "US", "+442079460018"),
        ("+1 415 555 0123 ext. 12", "US", "+14155550123"),
        ("+1 415 555 0123 x12", "US", "+14155550123"),
        ("tel:+1-415-555-0123;ext=5", "US", "+14155550123"),
        ("+44 (0)20 7946 0018", "US", "+442079460018"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("07400 123456", "GB", "+447400123456"),
        ("00 1 415 555 0123", "GB", "+14155550123"),
        ("+1 415 555 0123".translate(FULL_WIDTH), "US", "+14155550123"),
        ("+1 415 555 0123".translate(ARABIC_INDIC), "US", "+14155550123"),
        ("020 7946 0018".translate(PERSIAN), "GB", "+442079460018"),
    ],
)
def test_normalise_reads_every_common_spelling_as_e164(
    raw: str, region: str, e164: str
) -> None:
    assert normalise(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "US", "empty"),
        (" \t ", "US", "empty"),
        ("hello", "US", "not a phone number"),
        ("555-1234", "US", "not a valid number for region US"),
        ("12", "US", "too short for region US"),
        ("+1 415 555 01234567", "US", "too long for region US"),
        ("+999 1234", "US", "unknown country calling code"),
        ("+44 20 7946", "US", "not a valid number for region GB"),
        ("020 7946 0018", "US", "too long for region US"),
        ("9" * 65, "US", "longer than 64 characters"),
        ("+14155550123\x00", "US", "holds a NUL character"),
    ],
)
def test_normalise_refuses_an_invalid_input_saying_why(
    raw: str, region: str, reason: str
) -> None:
    with pytest.raises(InvalidNumber) as refused:
        normalise(raw, region)

    assert str(refused.value) == reason


def buckets(recipients: list[Recipient]) -> list[tuple[str, Bucket, str | None]]:
    return [(r.input, r.bucket, r.reason) for r in recipients]


def test_a_numbers_first_spelling_is_accepted_and_later_ones_are_duplicates() -> None:
    inputs = ["(415) 555-0123", "nope", "+1 415 555 0123", "415.555.0123"]

    sorted_ = list(sort_recipients(inputs, region="US"))

    assert buckets(sorted_) == [
        ("(415) 555-0123", Bucket.ACCEPTED, None),
        ("nope", Bucket.INVALID, "not a phone number"),
        ("+1 415 555 0123", Bucket.DUPLICATE, "duplicate of an earlier entry"),
        ("415.555.0123", Bucket.DUPLICATE, "duplicate of an earlier entry"),
    ]
    assert [r.e164 for r in sorted_] == [
        "+14155550123",
        None,
        "+14155550123",
        "+14155550123",
    ]


@pytest.mark.parametrize(
    ("sender", "region"),
    [
        ("+14155550100", "US"),
        ("(415) 555-0100", "US"),
        ("14155550100", "US"),
        ("14155550100", "GB"),
    ],
)
def test_the_senders_own_number_is_invalid_in_any_spelling(
    sender: str, region: str
) -> None:
    inputs = ["+1 415 555 0100", "+1 415 555 0101"]

    sorted_ = list(sort_recipients(inputs, region=region, sender=sender))

    assert buckets(sorted_) == [
        ("+1 415 555 0100", Bucket.INVALID, "the sender's own number"),
        ("+1 415 555 0101", Bucket.ACCEPTED, None),
    ]


def test_every_spelling_of_the_senders_own_number_carries_the_sender_reason() -> None:
    inputs = ["(415) 555-0100", "+1 415 555 0101", "14155550100", "+14155550100"]

    sorted_ = list(sort_recipients(inputs, region="US", sender="+14155550100"))

    assert buckets(sorted_) == [
        ("(415) 555-0100", Bucket.INVALID, "the sender's own number"),
        ("+1 415 555 0101", Bucket.ACCEPTED, None),
        ("14155550100", Bucket.INVALID, "the sender's own number"),
        ("+14155550100", Bucket.INVALID, "the sender's own number"),
    ]


@pytest.mark.parametrize(
    ("sender", "region", "e164"),
    [
        ("+14155550100", "GB", "+14155550100"),
        ("442079460018", "US", "+442079460018"),
        ("14155550100", "GB", "+14155550100"),
        ("4155550100", "US", "+14155550100"),
        ("ACME", "US", None),
        ("", "US", None),
        (None, "US", None),
    ],
)
def test_sender_number_reads_plivos_digits_only_form_as_international(
    sender: str | None, region: str, e164: str | None
) -> None:
    assert sender_number(sender, region) == e164


def test_an_alphanumeric_sender_drops_nothing() -> None:
    sorted_ = list(sort_recipients(["+14155550100"], region="US", sender="ACME"))

    assert buckets(sorted_) == [("+14155550100", Bucket.ACCEPTED, None)]


def test_a_suppressed_number_is_kept_apart_as_opted_out() -> None:
    opted_out = {"+14155550123"}

    sorted_ = list(
        sort_recipients(
            ["415 555 0123", "415 555 0124"],
            region="US",
            is_suppressed=opted_out.__contains__,
        )
    )

    assert buckets(sorted_) == [
        ("415 555 0123", Bucket.SUPPRESSED, "opted out"),
        ("415 555 0124", Bucket.ACCEPTED, None),
    ]


def test_excluding_landlines_drops_fixed_lines_but_not_us_numbers() -> None:
    inputs = ["+44 20 7946 0018", "+44 7400 123456", "+1 415 555 0123"]

    kept = list(sort_recipients(inputs, region="US"))
    excluded = list(sort_recipients(inputs, region="US", exclude_landlines=True))

    assert {r.bucket for r in kept} == {Bucket.ACCEPTED}
    assert buckets(excluded) == [
        ("+44 20 7946 0018", Bucket.INVALID, "a landline number"),
        ("+44 7400 123456", Bucket.ACCEPTED, None),
        ("+1 415 555 0123", Bucket.ACCEPTED, None),
    ]


def test_every_input_lands_in_exactly_one_bucket_in_input_order() -> None:
    inputs = ["+14155550123", "", "415-555-0123", "x", "+14155550100", "+14155550124"]

    sorted_ = list(sort_recipients(inputs, region="US", sender="+14155550100"))

    assert [r.input for r in sorted_] == inputs


def test_an_input_with_a_nul_is_invalid_and_kept_with_u_fffd_in_its_place() -> None:
    (recipient,) = sort_recipients(["+1 415\x00555 0123"], region="US")

    assert recipient.bucket is Bucket.INVALID
    assert recipient.reason == "holds a NUL character"
    assert recipient.input == "+1 415\ufffd555 0123"


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+14155550671", "+1415****671"),
        ("+442079460018", "+4420****018"),
        ("+1234567", "****"),
    ],
)
def test_mask_keeps_too_little_of_a_number_to_identify_it(
    number: str, masked: str
) -> None:
    assert mask(number) == masked
