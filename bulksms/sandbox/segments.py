"""How Plivo counts the length and the billed units of a text."""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Registers the "gsm03.38" codec with Python's codec registry.
import gsm0338  # noqa: F401

# Above these the Message API refuses the text.
MAX_GSM7_CHARACTERS = 1600
MAX_UCS2_UNITS = 737

_GSM7_SINGLE, _GSM7_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67


class Encoding(enum.StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class TextShape:
    """What a text costs: its encoding, its length and its units (segments)."""

    encoding: Encoding
    length: int
    units: int

    @property
    def too_long(self) -> bool:
        if self.encoding is Encoding.GSM7:
            return self.length > MAX_GSM7_CHARACTERS
        return self.length > MAX_UCS2_UNITS


def measure(text: str) -> TextShape:
    """Encoding, length and units of ``text`` as Plivo bills it.

    ``length`` counts characters for GSM-7 (Plivo's limit is in characters) and
    UTF-16 units for UCS-2.
    """
    try:
        septets = [len(char.encode("gsm03.38")) for char in text]
    except UnicodeEncodeError:
        utf16_units = [len(char.encode("utf-16-le")) // 2 for char in text]
        units = _count_parts(utf16_units, _UCS2_SINGLE, _UCS2_PART)
        return TextShape(Encoding.UCS2, sum(utf16_units), units)

    units = _count_parts(septets, _GSM7_SINGLE, _GSM7_PART)
    return TextShape(Encoding.GSM7, len(text), units)


def _count_parts(costs: list[int], single: int, part: int) -> int:
    """Parts needed when no character (escape or surrogate pair) is split."""
    if sum(costs) <= single:
        return 1

    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts += 1
            used = 0

        used += cost

    return parts
