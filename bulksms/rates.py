"""What a campaign is estimated to cost, before it is sent.

Prices come from a CSV file (the ``RATES_FILE`` setting, else the one shipped in
``bulksms/data``) with a ``prefix,price`` header: a prefix is the country calling
code, or a longer run of leading digits, without ``+``; the price is per segment,
as a decimal number in the account's currency. A number takes the price of its
longest matching prefix, so ``1204`` can price Manitoba apart from the rest of
``1``. Amounts are ``Decimal`` throughout: a float sum over thousands of recipients
drifts by fractions of a cent.

The estimate is only as good as the file: Plivo bills the price current on the day
of sending, plus any carrier surcharge.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

DEFAULT_RATES_FILE = Path(__file__).parent / "data" / "rates.csv"

_HEADER = ["prefix", "price"]
_LONGEST_PREFIX = 15  # digits in the longest possible E.164 number
_PREFIX = re.compile(r"[1-9][0-9]{0,14}")
_PRICE = re.compile(r"[0-9]+(\.[0-9]+)?")
_REPORTED_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class PrefixEstimate:
    """Recipients priced at one rate; ``prefix`` is None for the default rate."""

    prefix: str | None
    rate: Decimal
    recipients: int
    segments: int

    @property
    def amount(self) -> Decimal:
        return self.rate * self.segments

    def to_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "rate": str(self.rate),
            "recipients": self.recipients,
            "segments": self.segments,
            "amount": _reported(self.amount),
        }


@dataclass(frozen=True)
class Estimate:
    """Cost of sending a text of ``segments_per_recipient`` segments to everyone."""

    segments_per_recipient: int
    by_prefix: tuple[PrefixEstimate, ...]

    @property
    def recipients(self) -> int:
        return sum(line.recipients for line in self.by_prefix)

    @property
    def segments(self) -> int:
        return sum(line.segments for line in self.by_prefix)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.by_prefix), Decimal(0))

    @property
    def at_default_rate(self) -> int:
        """Recipients whose number matched no prefix in the rates file."""
        return sum(line.recipients for line in self.by_prefix if line.prefix is None)

    def to_dict(self) -> dict[str, Any]:
        """The estimate with amounts rounded to four places; each line is rounded
        on its own, so the lines may not add up to the total in the last place."""
        return {
            "total": _reported(self.total),
            "recipients": self.recipients,
            "segments_per_recipient": self.segments_per_recipient,
            "segments": self.segments,
            "at_default_rate": self.at_default_rate,
            "by_prefix": [line.to_dict() for line in self.by_prefix],
        }


@dataclass(frozen=True)
class RateTable:
    """Price per segment by the longest prefix of a number that has one."""

    rates: Mapping[str, Decimal]
    default_rate: Decimal

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, default_rate: Decimal | None = None
    ) -> RateTable:
        """Read a rates file; raise ``ValueError`` naming the file and line of the
        first thing wrong with it.

        Without ``default_rate``, numbers that match no prefix are priced at the
        dearest rate in the file, so that an unlisted destination makes the
        estimate err high rather than low.
        """
        rates = _read_rates(Path(path))

        if default_rate is None:
            default_rate = max(rates.values())

        return cls(MappingProxyType(rates), default_rate)

    def rate_for(self, e164: str) -> Decimal:
        """Price per segment for one number in E.164 form (``+`` optional)."""
        prefix = self._prefix_for(e164)
        return self.default_rate if prefix is None else self.rates[prefix]

    def estimate(self, e164_numbers: Iterable[str], segments: int) -> Estimate:
        """Cost of sending ``segments`` segments to each number, one per recipient."""
        if segments < 0:
            raise ValueError(f"segments must not be negative, not {segments}")

        recipients = Counter(self._prefix_for(number) for number in e164_numbers)

        # Prefixes in order, the default rate last.
        prefixes = sorted(recipients, key=lambda prefix: (prefix is None, prefix or ""))
        by_prefix = tuple(
            PrefixEstimate(
                prefix=prefix,
                rate=self.default_rate if prefix is None else self.rates[prefix],
                recipients=recipients[prefix],
                segments=recipients[prefix] * segments,
            )
            for prefix in prefixes
        )
        return Estimate(segments_per_recipient=segments, by_prefix=by_prefix)

    def _prefix_for(self, e164: str) -> str | None:
        digits = e164.removeprefix("+")

        for length in range(min(len(digits), _LONGEST_PREFIX), 0, -1):
            if digits[:length] in self.rates:
                return digits[:length]

        return None


def _reported(amount: Decimal) -> str:
    return str(amount.quantize(_REPORTED_PLACES, rounding=ROUND_HALF_UP))


def _read_rates(path: Path) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    first_lines: dict[str, int] = {}

    try:
        # utf-8-sig: a spreadsheet saving as CSV often starts the file with a BOM.
        with path.open(encoding="utf-8-sig", newline="") as file:
            for line, prefix, price in _rows(path, file):
                if prefix in rates:
                    raise ValueError(
                        f"{path}, line {line}: prefix {prefix!r} is already priced "
                        f"on line {first_lines[prefix]}"
                    )

                rates[prefix] = price
                first_lines[prefix] = line
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: cannot read the rates file: {exc}") from exc

    if not rates:
        raise ValueError(f"{path}: no rates below the 'prefix,price' header")

    return rates


def _rows(path: Path, file: TextIO) -> Iterator[tuple[int, str, Decimal]]:
    """Line number, prefix and price of every rate row, checked."""
    reader = csv.reader(file)
    header = [field.strip().lower() for field in next(reader, [])]

    if header != _HEADER:
        raise ValueError(
            f"{path}, line 1: the header must be 'prefix,price', "
            f"not {','.join(header)!r}"
        )

    for row in reader:
        where = f"{path}, line {reader.line_num}"

        if not row:
            continue

        if len(row) != len(_HEADER):
            raise ValueError(
                f"{where}: expected 2 fields (prefix,price), found {len(row)}"
            )

        prefix, price = (field.strip() for field in row)

        if not _PREFIX.fullmatch(prefix):
            raise ValueError(
                f"{where}: prefix {prefix!r} must be 1 to 15 digits without '+', "
                "not starting with 0"
            )

        if not _PRICE.fullmatch(price):
            raise ValueError(
                f"{where}: price {price!r} must be a decimal number such as 0.00650"
            )

        yield reader.line_num, prefix, Decimal(price)
