# The look-alike characters are what these tests are about.
# ruff: noqa: RUF001

import unicodedata

import gsm0338
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulksms.errors import TextTooLong
from bulksms.segments import (
    LOOK_ALIKES,
    MAX_GSM7_CHARACTERS,
    MAX_UCS2_UNITS,
    Encoding,
    Replacement,
    analyse,
    check_limits,
    make_gsm_safe,
    split_parts,
)

_CODEC = gsm0338.Codec()
_ESCAPE = 0x1B

# The GSM 03.38 tables as the codec decodes them, independently of the module.
GSM_BASIC = [_CODEC.decode(bytes([code]))[0] for code in range(0x80) if code != _ESCAPE]
GSM_EXTENSION = ["^", "{", "}", "\\", "[", "~", "]", "|", "€", "\f"]

SINGLE_MESSAGE = {Encoding.GSM7: 160, Encoding.UCS2: 70}
PER_PART = {Encoding.GSM7: 153, Encoding.UCS2: 67}

OPENING_HOURS = (
    "Reminder: we’re open late this Friday until 9pm. Show this text for 10% off "
    "any order over 20 pounds."
)


def wire_units(text: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return len(text.encode("gsm03.38"))

    return len(text.encode("utf-16-le")) // 2


def test_extension_characters_are_those_the_codec_escapes() -> None:
    escaped = [
        character
        for character in map(chr, range(0x10000))
        if character.encode("gsm03.38", errors="ignore").startswith(b"\x1b")
        and character != "\x1b"
    ]

    assert sorted(escaped) == sorted(GSM_EXTENSION)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        pytest.param("a" * 160, Encoding.GSM7, 160, 1, id="160-septets-one-sms"),
        pytest.param("a" * 161, Encoding.GSM7, 161, 2, id="161-septets-two-parts"),
        pytest.param("a" * 159 + "€", Encoding.GSM7, 161, 2, id="euro-costs-two"),
        pytest.param("]" * 80, Encoding.GSM7, 160, 1, id="80-escape-pairs-fit"),
        pytest.param("]" * 153, Encoding.GSM7, 306, 3, id="76-escape-pairs-a-part"),
        pytest.param("\f" * 2, Encoding.GSM7, 4, 1, id="form-feed-costs-two"),
        pytest.param("Ç", Encoding.GSM7, 1, 1, id="capital-c-cedilla-is-gsm"),
        pytest.param("ç", Encoding.UCS2, 1, 1, id="small-c-cedilla-is-not"),
        pytest.param("a\tb", Encoding.UCS2, 3, 1, id="tab-is-not-gsm"),
        pytest.param("a\x1bb", Encoding.UCS2, 3, 1, id="escape-is-not-a-character"),
        pytest.param(OPENING_HOURS, Encoding.UCS2, 101, 2, id="one-curly-quote"),
        pytest.param("a" * 70, Encoding.GSM7, 70, 1, id="70-ascii"),
        pytest.param("ж" * 70, Encoding.UCS2, 70, 1, id="70-units-one-sms"),
        pytest.param("ж" * 71, Encoding.UCS2, 71, 2, id="71-units-two-parts"),
        pytest.param("😎" * 70, Encoding.UCS2, 140, 3, id="33-emoji-a-part"),
        pytest.param(
            "a" * 66 + "😀" + "a" * 66, Encoding.UCS2, 134, 3, id="emoji-not-split"
        ),
        pytest.param("", Encoding.GSM7, 0, 0, id="empty"),
    ],
)
def test_analyse_counts_units_and_segments(
    text: str, encoding: Encoding, units: int, segments: int
) -> None:
    facts = analyse(text)

    assert facts.encoding is encoding
    assert facts.characters == len(text)
    assert facts.units == units
    assert facts.segments == segments
    assert len(split_parts(text)) == segments


def test_non_gsm_character_is_named_with_its_position() -> None:
    assert len(OPENING_HOURS) == 101

    facts = analyse(OPENING_HOURS)

    assert facts.to_dict() == {
        "encoding": "UCS-2",
        "characters": 101,
        "units": 101,
        "segments": 2,
        "non_gsm_characters": [
            {
                "character": "’",
                "name": "RIGHT SINGLE QUOTATION MARK",
                "positions": [12],
            }
        ],
    }


def test_non_gsm_characters_listed_once_in_order_of_first_use() -> None:
    facts = analyse("é\tça\t😀ç")

    assert [(c.character, c.name, c.positions) for c in facts.non_gsm_characters] == [
        ("\t", "U+0009", (1, 4)),
        ("ç", "LATIN SMALL LETTER C WITH CEDILLA", (2, 6)),
        ("😀", "GRINNING FACE", (5,)),
    ]


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        pytest.param("]" * 153, ["]" * 76, "]" * 76, "]"], id="escape-pairs"),
        pytest.param(
            "a" * 152 + "€" + "a" * 10,
            ["a" * 152, "€" + "a" * 10],
            id="escape-pair-moves-to-next-part",
        ),
        pytest.param(
            "a" * 66 + "😀" + "a" * 66,
            ["a" * 66, "😀" + "a" * 65, "a"],
            id="surrogate-pair-moves-to-next-part",
        ),
        pytest.param("a" * 161, ["a" * 153, "a" * 8], id="plain"),
        pytest.param("hello", ["hello"], id="single-sms"),
        pytest.param("", [], id="empty"),
    ],
)
def test_split_parts_never_cuts_a_character(text: str, parts: list[str]) -> None:
    assert split_parts(text) == parts


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a" * MAX_GSM7_CHARACTERS, id="1600-gsm-characters"),
        pytest.param("€" * MAX_GSM7_CHARACTERS, id="1600-extension-characters"),
        pytest.param("ж" * MAX_UCS2_UNITS, id="737-ucs2-units"),
        pytest.param("😀" * 368 + "ж", id="368-emoji-and-one-more-unit"),
    ],
)
def test_check_limits_accepts_texts_at_plivos_limit(text: str) -> None:
    check_limits(analyse(text))


@pytest.mark.parametrize(
    ("text", "limit", "count", "message"),
    [
        pytest.param(
            "a" * 1601,
            1600,
            1601,
            "message is 1,601 GSM-7 characters; Plivo's limit is 1,600",
            id="1601-gsm-characters",
        ),
        pytest.param(
            "ж" * 738,
            737,
            738,
            "message is 738 UCS-2 characters, counting emoji as two; "
            "Plivo's limit is 737",
            id="738-ucs2-units",
        ),
        pytest.param(
            "😀" * 369,
            737,
            738,
            "message is 738 UCS-2 characters, counting emoji as two; "
            "Plivo's limit is 737",
            id="369-emoji",
        ),
    ],
)
def test_check_limits_rejects_texts_over_plivos_limit(
    text: str, limit: int, count: int, message: str
) -> None:
    with pytest.raises(TextTooLong) as raised:
        check_limits(analyse(text))

    assert raised.value.limit == limit
    assert raised.value.count == count
    assert raised.value.message == message
    assert raised.value.status == 422


@pytest.mark.parametrize(
    ("text", "safe_text", "replacements", "before", "after"),
    [
        pytest.param(
            "It’s “on” – 8\u202f€… see you",
            'It\'s "on" - 8 €... see you',
            [
                Replacement("’", "'", 1),
                Replacement("“", '"', 1),
                Replacement("”", '"', 1),
                Replacement("–", "-", 1),
                Replacement("\u202f", " ", 1),
                Replacement("…", "...", 1),
            ],
            1,
            1,
            id="quotes-dash-space-ellipsis",
        ),
        pytest.param(
            OPENING_HOURS,
            OPENING_HOURS.replace("’", "'"),
            [Replacement("’", "'", 1)],
            2,
            1,
            id="one-curly-quote-saves-a-segment",
        ),
        pytest.param(
            "« Soldes » — 50 % en magasin\u00a0! L’offre se termine dimanche. " * 3,
            '" Soldes " - 50 % en magasin ! L\'offre se termine dimanche. ' * 3,
            [
                Replacement("«", '"', 3),
                Replacement("»", '"', 3),
                Replacement("—", "-", 3),
                Replacement("\u00a0", " ", 3),
                Replacement("’", "'", 3),
            ],
            3,
            2,
            id="french-guillemets-and-spaces",
        ),
        pytest.param(
            "Pay\u00ad\u200bnow\tplease",
            "Paynow please",
            [
                Replacement("\u00ad", "", 1),
                Replacement("\u200b", "", 1),
                Replacement("\t", " ", 1),
            ],
            1,
            1,
            id="invisible-characters-removed",
        ),
    ],
)
def test_make_gsm_safe_replaces_look_alikes(
    text: str,
    safe_text: str,
    replacements: list[Replacement],
    before: int,
    after: int,
) -> None:
    result = make_gsm_safe(text)

    assert result.text == safe_text
    assert list(result.replacements) == replacements
    assert (result.segments_before, result.segments_after) == (before, after)
    assert result.segments_saved == before - after
    assert analyse(result.text).encoding is Encoding.GSM7


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Sale: 10€ off [today] ~ {all} stores ^_^ 'quoted'", id="gsm"),
        pytest.param("It’s 🎉 time", id="emoji-keeps-ucs2"),
        pytest.param("Café “ça va” ✓", id="other-non-gsm-keeps-ucs2"),
        pytest.param("…" * 200, id="ellipses-would-add-segments"),
    ],
)
def test_make_gsm_safe_leaves_text_it_cannot_improve(text: str) -> None:
    result = make_gsm_safe(text)

    assert result.text == text
    assert result.replacements == ()
    assert result.segments_before == result.segments_after == analyse(text).segments


def test_make_gsm_safe_to_dict() -> None:
    result = make_gsm_safe(OPENING_HOURS)

    assert result.to_dict() == {
        "text": OPENING_HOURS.replace("’", "'"),
        "replacements": [
            {
                "original": "’",
                "name": "RIGHT SINGLE QUOTATION MARK",
                "replacement": "'",
                "count": 1,
            }
        ],
        "segments_before": 2,
        "segments_after": 1,
        "segments_saved": 1,
    }


def test_look_alikes_replace_only_non_gsm_characters_with_gsm_text() -> None:
    for original, replacement in LOOK_ALIKES.items():
        assert analyse(original).encoding is Encoding.UCS2, original
        assert analyse(replacement).encoding is Encoding.GSM7, original


def test_look_alikes_cover_every_unicode_space_separator() -> None:
    separators = {
        chr(code) for code in range(0x110000) if unicodedata.category(chr(code)) == "Zs"
    }

    assert separators - {" "} <= LOOK_ALIKES.keys()


_GSM_CHARACTER = st.sampled_from(GSM_BASIC) | st.sampled_from(GSM_EXTENSION)
_ANY_CHARACTER = (
    _GSM_CHARACTER
    | st.characters(min_codepoint=0xA0, max_codepoint=0xFF)
    | st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"])
    | st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)
)
# Hypothesis favours short texts; the part boundaries only show in long ones, and
# mostly when two-unit characters crowd them.
_TEXTS = (
    st.text(_GSM_CHARACTER, max_size=200)
    | st.text(_GSM_CHARACTER, min_size=150, max_size=700)
    | st.text(_ANY_CHARACTER, max_size=100)
    | st.text(_ANY_CHARACTER, min_size=60, max_size=400)
    | st.text(st.sampled_from(["a", "€", "]"]), min_size=150, max_size=400)
    | st.text(st.sampled_from(["a", "😀"]), min_size=60, max_size=200)
)


@settings(max_examples=300, deadline=None, database=None)
@given(_TEXTS)
def test_parts_rejoin_fit_and_match_the_segment_count(text: str) -> None:
    facts = analyse(text)
    parts = split_parts(text)
    encoding = facts.encoding
    capacity = SINGLE_MESSAGE[encoding] if len(parts) == 1 else PER_PART[encoding]

    assert "".join(parts) == text
    assert facts.segments == len(parts)
    assert facts.units == wire_units(text, encoding)

    if encoding is Encoding.GSM7:
        assert facts.units == len(text.encode("gsm03.38"))

    for index, part in enumerate(parts):
        assert part
        assert wire_units(part, encoding) <= capacity

        if index + 1 < len(parts):
            # Greedy: the next character did not fit, so no part was cut early.
            following = parts[index + 1][0]
            assert wire_units(part + following, encoding) > capacity, (
                "part ended before it was full"
            )

        if encoding is Encoding.GSM7:
            assert not part.encode("gsm03.38").endswith(bytes([_ESCAPE]))
        else:
            units = part.encode("utf-16-le")
            first = int.from_bytes(units[:2], "little")
            last = int.from_bytes(units[-2:], "little")
            assert not 0xDC00 <= first <= 0xDFFF, "part starts with a low surrogate"
            assert not 0xD800 <= last <= 0xDBFF, "part ends with a high surrogate"


@settings(max_examples=300, deadline=None, database=None)
@given(_TEXTS)
def test_gsm_7_exactly_when_the_codec_encodes_the_text(text: str) -> None:
    try:
        text.encode("gsm03.38")
    except UnicodeEncodeError:
        encodable = False
    else:
        encodable = "\x1b" not in text

    assert (analyse(text).encoding is Encoding.GSM7) == encodable
