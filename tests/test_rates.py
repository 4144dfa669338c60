from decimal import Decimal
from pathlib import Path

import pytest

from bulksms.rates import DEFAULT_RATES_FILE, PrefixEstimate, RateTable

RATES = "prefix,price\n1,0.00650\n1204,0.00700\n44,0.04000\n447,0.04200\n"


def write_rates(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "rates.csv"
    path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def table(tmp_path: Path) -> RateTable:
    return RateTable.load(write_rates(tmp_path, RATES), default_rate=Decimal("0.05"))


def test_shipped_rates_cover_the_countries_we_send_to() -> None:
    table = RateTable.load(DEFAULT_RATES_FILE)

    assert set(table.rates) == {"1", "33", "44", "61"}
    assert table.rate_for("+14155550100") == Decimal("0.00650")
    assert table.rate_for("+61491570156") == Decimal("0.05200")


@pytest.mark.parametrize(
    ("number", "rate"),
    [
        pytest.param("+14155550100", "0.00650", id="country-code"),
        pytest.param("+12045550100", "0.00700", id="longer-prefix-wins"),
        pytest.param("+12055550100", "0.00650", id="near-miss-falls-back"),
        pytest.param("+442079460000", "0.04000", id="uk-landline"),
        pytest.param("+447700900123", "0.04200", id="uk-mobile"),
        pytest.param("447700900123", "0.04200", id="plus-optional"),
        pytest.param("+33612345678", "0.05", id="unlisted-default"),
        pytest.param("+1", "0.00650", id="number-as-short-as-prefix"),
    ],
)
def test_rate_for_takes_the_longest_matching_prefix(
    table: RateTable, number: str, rate: str
) -> None:
    assert table.rate_for(number) == Decimal(rate)


def test_default_rate_is_the_dearest_when_not_given(tmp_path: Path) -> None:
    table = RateTable.load(write_rates(tmp_path, RATES))

    assert table.default_rate == Decimal("0.04200")
    assert table.rate_for("+33612345678") == Decimal("0.04200")


def test_estimate_is_exact_over_13219_recipients(table: RateTable) -> None:
    numbers = (
        [f"+1415555{n:04d}" for n in range(10_000)]
        + [f"+4420794{n:05d}" for n in range(3_000)]
        + [f"+1204555{n:04d}" for n in range(200)]
        + [f"+3361234{n:04d}" for n in range(19)]
    )
    assert len(numbers) == 13_219

    estimate = table.estimate(numbers, segments=3)

    # 30,000 x 0.0065 + 9,000 x 0.04 + 600 x 0.007 + 57 x 0.05
    assert estimate.total == Decimal("562.05")
    assert estimate.recipients == 13_219
    assert estimate.segments == 39_657
    assert estimate.at_default_rate == 19
    assert estimate.by_prefix == (
        PrefixEstimate("1", Decimal("0.00650"), 10_000, 30_000),
        PrefixEstimate("1204", Decimal("0.00700"), 200, 600),
        PrefixEstimate("44", Decimal("0.04000"), 3_000, 9_000),
        PrefixEstimate(None, Decimal("0.05"), 19, 57),
    )


def test_estimate_to_dict_gives_amounts_as_four_place_strings(table: RateTable) -> None:
    numbers = ["+14155550100", "+447700900123", "+447700900124", "+33612345678"]

    estimate = table.estimate(numbers, segments=1)

    assert estimate.to_dict() == {
        "total": "0.1405",
        "recipients": 4,
        "segments_per_recipient": 1,
        "segments": 4,
        "at_default_rate": 1,
        "by_prefix": [
            {
                "prefix": "1",
                "rate": "0.00650",
                "recipients": 1,
                "segments": 1,
                "amount": "0.0065",
            },
            {
                "prefix": "447",
                "rate": "0.04200",
                "recipients": 2,
                "segments": 2,
                "amount": "0.0840",
            },
            {
                "prefix": None,
                "rate": "0.05",
                "recipients": 1,
                "segments": 1,
                "amount": "0.0500",
            },
        ],
    }


def test_estimate_of_no_recipients_is_zero(table: RateTable) -> None:
    estimate = table.estimate([], segments=2)

    assert estimate.total == 0
    assert estimate.to_dict()["total"] == "0.0000"
    assert estimate.by_prefix == ()


def test_estimate_refuses_negative_segments(table: RateTable) -> None:
    with pytest.raises(ValueError, match="segments"):
        table.estimate(["+14155550100"], segments=-1)


def test_spreadsheet_export_with_bom_spaces_and_blank_lines_loads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rates.csv"
    path.write_bytes(b'\xef\xbb\xbfPrefix, Price\r\n"44", 0.04000\r\n\r\n61,0.052\r\n')

    table = RateTable.load(path)

    assert dict(table.rates) == {"44": Decimal("0.04000"), "61": Decimal("0.052")}


@pytest.mark.parametrize(
    ("content", "error"),
    [
        pytest.param("", "line 1: the header must be 'prefix,price'", id="empty"),
        pytest.param(
            "country,price\n1,0.0065\n",
            "line 1: the header must be 'prefix,price', not 'country,price'",
            id="header",
        ),
        pytest.param(
            "prefix,price\n1,0.0065\n44,0,04\n",
            "line 3: expected 2 fields (prefix,price), found 3",
            id="decimal-comma",
        ),
        pytest.param(
            "prefix,price\n1,0.0065\n44\n",
            "line 3: expected 2 fields (prefix,price), found 1",
            id="missing-price",
        ),
        pytest.param(
            "prefix,price\n+44,0.04\n",
            "line 2: prefix '+44' must be 1 to 15 digits without '+'",
            id="plus-in-prefix",
        ),
        pytest.param(
            "prefix,price\n044,0.04\n",
            "line 2: prefix '044' must be 1 to 15 digits",
            id="leading-zero",
        ),
        pytest.param(
            "prefix,price\n1,0.0065\n\n44,£0.04\n",
            "line 4: price '£0.04' must be a decimal number such as 0.00650",
            id="currency-sign",
        ),
        pytest.param(
            "prefix,price\n44,-0.04\n",
            "line 2: price '-0.04' must be a decimal number",
            id="negative-price",
        ),
        pytest.param(
            "prefix,price\n44,4e-2\n",
            "line 2: price '4e-2' must be a decimal number",
            id="exponent",
        ),
        pytest.param(
            "prefix,price\n44,0.04\n1,0.0065\n44,0.05\n",
            "line 4: prefix '44' is already priced on line 2",
            id="duplicate-prefix",
        ),
        pytest.param(
            "prefix,price\n\n",
            "no rates below the 'prefix,price' header",
            id="header-only",
        ),
    ],
)
def test_malformed_rates_file_names_the_file_and_line(
    tmp_path: Path, content: str, error: str
) -> None:
    path = write_rates(tmp_path, content)

    with pytest.raises(ValueError) as raised:
        RateTable.load(path)

    assert str(raised.value).startswith(str(path))
    assert error in str(raised.value)


def test_unreadable_rates_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"

    with pytest.raises(ValueError, match="cannot read the rates file") as raised:
        RateTable.load(missing)

    assert str(raised.value).startswith(str(missing))
