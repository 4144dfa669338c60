"""How a text is encoded and cut into SMS segments, as Plivo bills it.

A text goes out as GSM-7 when every character is in the GSM 03.38 basic or
extension table; a single other character makes the whole message UCS-2. A message
that fits one SMS holds 160 septets (GSM-7) or 70 UTF-16 code units (UCS-2); a
longer one is sent as concatenated parts of 153 or 67, because each part gives up
room to the header that reassembles them. Plivo bills every part to every
recipient, so the segment count is what a campaign costs.

Texts are expected as decoded Unicode, the way JSON parsing yields them: a character
outside the Basic Multilingual Plane is one code point here and two UTF-16 units on
the wire.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Any

import gsm0338

from bulksms.errors import TextTooLong

MAX_GSM7_CHARACTERS = 1600
MAX_UCS2_UNITS = 737

_ESCAPE = 0x1B
_LAST_BMP_CODE_POINT = 0xFFFF


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


_SINGLE_MESSAGE_UNITS = {Encoding.GSM7: 160, Encoding.UCS2: 70}
_PART_UNITS = {Encoding.GSM7: 153, Encoding.UCS2: 67}


def _gsm_septets() -> dict[str, int]:
    """Septets per GSM-7 character, read from the codec's GSM 03.38 tables."""
    codec = gsm0338.Codec()
    septets: dict[str, int] = {}

    for code in range(0x80):
        if code == _ESCAPE:
            # 0x1B only announces an extension character. The codec maps U+001B
            # onto it, but a handset would read the next septet as an extension
            # character, so a text holding U+001B has no faithful GSM-7 form.
            continue

        basic: str = codec.decode(bytes([code]))[0]
        septets[basic] = 1

        try:
            extension: str = codec.decode(bytes([_ESCAPE, code]))[0]
        except UnicodeDecodeError:
            continue

        septets[extension] = 2

    return septets


_GSM_SEPTETS = _gsm_septets()


def _character_name(character: str) -> str:
    # Control characters such as TAB have no Unicode name, only a code point.
    return unicodedata.name(character, f"U+{ord(character):04X}")


@dataclass(frozen=True)
class NonGsmCharacter:
    """A character that forces UCS-2, with the code point indexes where it occurs."""

    character: str
    positions: tuple[int, ...]

    @property
    def name(self) -> str:
        return _character_name(self.character)

    def to_dict(self) -> dict[str, Any]:
        return {
            "character": self.character,
            "name": self.name,
            "positions": list(self.positions),
        }


@dataclass(frozen=True)
class TextFacts:
    """What a text costs: ``units`` are septets for GSM-7 and UTF-16 code units for
    UCS-2; ``segments`` are the parts each recipient is sent and billed for."""

    encoding: Encoding
    characters: int
    units: int
    segments: int
    non_gsm_characters: tuple[NonGsmCharacter, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding.value,
            "characters": self.characters,
            "units": self.units,
            "segments": self.segments,
            "non_gsm_characters": [
                character.to_dict() for character in self.non_gsm_characters
            ],
        }


def analyse(text: str) -> TextFacts:
    """Encoding, size and segment count of ``text``; an empty text has no segments."""
    non_gsm_characters = _non_gsm_characters(text)
    encoding = Encoding.UCS2 if non_gsm_characters else Encoding.GSM7

    costs = _unit_costs(text, encoding)
    part_starts = _part_starts(costs, encoding)

    return TextFacts(
        encoding=encoding,
        characters=len(text),
        units=sum(costs),
        segments=len(part_starts),
        non_gsm_characters=non_gsm_characters,
    )


def split_parts(text: str) -> list[str]:
    """``text`` cut into the parts ``analyse`` counts, in order.

    No part is over its capacity in units, and no character is cut: an extension
    character's escape pair and a surrogate pair always travel in one part. An
    empty text has no parts.
    """
    encoding = Encoding.UCS2 if _non_gsm_characters(text) else Encoding.GSM7
    starts = _part_starts(_unit_costs(text, encoding), encoding)

    return [text[start:end] for start, end in pairwise([*starts, len(text)])]


def _non_gsm_characters(text: str) -> tuple[NonGsmCharacter, ...]:
    positions: dict[str, list[int]] = {}

    for index, character in enumerate(text):
        if character not in _GSM_SEPTETS:
            positions.setdefault(character, []).append(index)

    return tuple(
        NonGsmCharacter(character, tuple(indexes))
        for character, indexes in positions.items()
    )


def _unit_costs(text: str, encoding: Encoding) -> list[int]:
    """Units each code point of ``text`` takes on the wire."""
    if encoding is Encoding.GSM7:
        return [_GSM_SEPTETS[character] for character in text]

    return [2 if ord(character) > _LAST_BMP_CODE_POINT else 1 for character in text]


def _part_starts(costs: list[int], encoding: Encoding) -> list[int]:
    """Index of the first code point of every part."""
    if not costs:
        return []

    if sum(costs) <= _SINGLE_MESSAGE_UNITS[encoding]:
        return [0]

    capacity = _PART_UNITS[encoding]
    starts = [0]
    used = 0

    for index, cost in enumerate(costs):
        if used + cost > capacity:
            # A two-unit character that does not fit moves whole to the next
            # part, leaving a unit unused: handsets cannot rejoin a split pair.
            starts.append(index)
            used = 0
        used += cost

    return starts


def check_limits(facts: TextFacts) -> None:
    """Raise ``TextTooLong`` when Plivo would refuse the text with a 400.

    Plivo states its limits as 1,600 GSM-7 characters and 737 UCS-2 characters.
    A GSM-7 text is measured in characters (code points), as Plivo words it, so an
    extension character counts once here although it takes two septets. A UCS-2
    "character" is a 16-bit unit, so there the count is UTF-16 code units and an
    emoji counts twice.
    """
    if facts.encoding is Encoding.GSM7 and facts.characters > MAX_GSM7_CHARACTERS:
        raise TextTooLong(
            f"message is {facts.characters:,} GSM-7 characters; "
            f"Plivo's limit is {MAX_GSM7_CHARACTERS:,}",
            limit=MAX_GSM7_CHARACTERS,
            count=facts.characters,
        )

    if facts.encoding is Encoding.UCS2 and facts.units > MAX_UCS2_UNITS:
        raise TextTooLong(
            f"message is {facts.units:,} UCS-2 characters, counting emoji as two; "
            f"Plivo's limit is {MAX_UCS2_UNITS:,}",
            limit=MAX_UCS2_UNITS,
            count=facts.units,
        )


def _look_alikes() -> dict[str, str]:
    """Non-GSM characters and the GSM-7 text a reader takes them for.

    Only characters whose replacement reads the same are listed. Accented letters
    missing from GSM-7 (``á``, ``ç``, ``ê``) are not: dropping an accent changes
    the spelling. Backtick and acute accent are left out too, since they are not
    always meant as apostrophes.
    """
    groups = {
        "'": (
            "LEFT SINGLE QUOTATION MARK",
            "RIGHT SINGLE QUOTATION MARK",
            "SINGLE LOW-9 QUOTATION MARK",
            "SINGLE HIGH-REVERSED-9 QUOTATION MARK",
            "SINGLE LEFT-POINTING ANGLE QUOTATION MARK",
            "SINGLE RIGHT-POINTING ANGLE QUOTATION MARK",
            "MODIFIER LETTER APOSTROPHE",
            "PRIME",
            "REVERSED PRIME",
            "FULLWIDTH APOSTROPHE",
        ),
        '"': (
            "LEFT DOUBLE QUOTATION MARK",
            "RIGHT DOUBLE QUOTATION MARK",
            "DOUBLE LOW-9 QUOTATION MARK",
            "DOUBLE HIGH-REVERSED-9 QUOTATION MARK",
            "LEFT-POINTING DOUBLE ANGLE QUOTATION MARK",
            "RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK",
            "DOUBLE PRIME",
            "REVERSED DOUBLE PRIME",
            "FULLWIDTH QUOTATION MARK",
        ),
        "-": (
            "HYPHEN",
            "NON-BREAKING HYPHEN",
            "FIGURE DASH",
            "EN DASH",
            "EM DASH",
            "HORIZONTAL BAR",
            "MINUS SIGN",
            "SMALL EM DASH",
            "SMALL HYPHEN-MINUS",
            "FULLWIDTH HYPHEN-MINUS",
        ),
        "...": ("HORIZONTAL ELLIPSIS",),
        # Every Unicode space separator except SPACE itself, and TAB.
        " ": (
            "CHARACTER TABULATION",
            "NO-BREAK SPACE",
            "OGHAM SPACE MARK",
            "EN QUAD",
            "EM QUAD",
            "EN SPACE",
            "EM SPACE",
            "THREE-PER-EM SPACE",
            "FOUR-PER-EM SPACE",
            "SIX-PER-EM SPACE",
            "FIGURE SPACE",
            "PUNCTUATION SPACE",
            "THIN SPACE",
            "HAIR SPACE",
            "NARROW NO-BREAK SPACE",
            "MEDIUM MATHEMATICAL SPACE",
            "IDEOGRAPHIC SPACE",
        ),
        # Invisible characters pasted from editors and web pages: nothing to read,
        # yet any one of them alone turns the whole message into UCS-2.
        "": (
            "SOFT HYPHEN",
            "ZERO WIDTH SPACE",
            "WORD JOINER",
            "ZERO WIDTH NO-BREAK SPACE",
        ),
    }

    return {
        unicodedata.lookup(name): replacement
        for replacement, names in groups.items()
        for name in names
    }


LOOK_ALIKES: Mapping[str, str] = MappingProxyType(_look_alikes())
_LOOK_ALIKE_TABLE = str.maketrans(dict(LOOK_ALIKES))


@dataclass(frozen=True)
class Replacement:
    """One kind of character ``make_gsm_safe`` replaced, and how often."""

    original: str
    replacement: str
    count: int

    @property
    def name(self) -> str:
        return _character_name(self.original)

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "name": self.name,
            "replacement": self.replacement,
            "count": self.count,
        }


@dataclass(frozen=True)
class GsmSafeResult:
    text: str
    replacements: tuple[Replacement, ...]
    segments_before: int
    segments_after: int

    @property
    def segments_saved(self) -> int:
        return self.segments_before - self.segments_after

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "replacements": [
                replacement.to_dict() for replacement in self.replacements
            ],
            "segments_before": self.segments_before,
            "segments_after": self.segments_after,
            "segments_saved": self.segments_saved,
        }


def make_gsm_safe(text: str) -> GsmSafeResult:
    """Replace look-alike characters so that ``text`` can go out as GSM-7.

    Only characters outside GSM-7 are replaced, so a GSM-7 text comes back as it
    is. The replacements are kept only when they turn the whole text into GSM-7
    without adding segments or going over Plivo's limit of 1,600 GSM-7
    characters; otherwise the text is returned unchanged. While anything else (an
    emoji, a letter from another script) keeps a text UCS-2, a curly quote costs
    no more than a straight one, and an ellipsis costs one unit where ``...``
    costs three, so a text dense with ellipses can grow.
    """
    segments_before = analyse(text).segments
    counts = Counter(character for character in text if character in LOOK_ALIKES)
    candidate = text.translate(_LOOK_ALIKE_TABLE)
    after = analyse(candidate)

    if (
        not counts
        or after.encoding is not Encoding.GSM7
        or after.segments > segments_before
        # Three dots for each ellipsis can take a text Plivo accepts as 737
        # UCS-2 units past its GSM-7 limit, in the same number of segments.
        or after.characters > MAX_GSM7_CHARACTERS
    ):
        return GsmSafeResult(text, (), segments_before, segments_before)

    replacements = tuple(
        Replacement(character, LOOK_ALIKES[character], count)
        for character, count in counts.items()
    )
    return GsmSafeResult(candidate, replacements, segments_before, after.segments)
