"""Start-up validation: a bad setting stops the service with a message that names
the variable, before it accepts a single campaign."""

from __future__ import annotations

import pytest

from bulksms import create_app
from bulksms.settings import Settings, SettingsError

VALID = {
    "PLIVO_AUTH_ID": "MAXXXXXXXXXXXXXXXXXX",
    "PLIVO_AUTH_TOKEN": "the-auth-token",
    "PLIVO_SENDER_ID": "+14155550100",
    "API_KEY": "the-api-key",
}


def load(**changes: str | None) -> Settings:
    """Settings from ``VALID`` with ``changes``; None leaves a variable unset."""
    values = {**VALID, **changes}
    return Settings.load({k: v for k, v in values.items() if v is not None})


def test_the_required_settings_alone_load_with_sane_defaults() -> None:
    settings = load()

    assert settings.api_keys == ("the-api-key",)
    assert settings.plivo_timeout == 10.0
    assert settings.send_concurrency == 4
    assert settings.default_region == "US"
    assert settings.send_rate_limit == "120 per minute"
    assert settings.max_request_bytes == 64 * 1024 * 1024
    assert (settings.log_format, settings.log_level) == ("text", "INFO")


def test_the_environment_is_read_and_explicit_overrides_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEND_CONCURRENCY", "7")
    monkeypatch.setenv("DEFAULT_REGION", "gb")

    settings = load(DEFAULT_REGION="de")

    assert settings.send_concurrency == 7
    assert settings.default_region == "DE"


@pytest.mark.parametrize(
    ("changes", "parsed"),
    [
        ({"API_KEY": " new-key, old-key ,, "}, ("api_keys", ("new-key", "old-key"))),
        (
            {"API_BASE_URL": "https://sms.example.com/"},
            ("api_base_url", "https://sms.example.com"),
        ),
        ({"LOG_LEVEL": "warning"}, ("log_level", "WARNING")),
        ({"LOG_FORMAT": "JSON"}, ("log_format", "json")),
        (
            {"SEND_RATE_LIMIT": "10/second; 300/minute"},
            ("send_rate_limit", "10/second; 300/minute"),
        ),
        ({"PLIVO_TIMEOUT": " 2.5 "}, ("plivo_timeout", 2.5)),
        ({"PLIVO_SENDER_ID": "Acme Shop 1"}, ("plivo_sender_id", "Acme Shop 1")),
        ({"PLIVO_SENDER_ID": "442079460018"}, ("plivo_sender_id", "442079460018")),
        (
            {"PLIVO_SENDER_ID": None, "PLIVO_POWERPACK_UUID": "pp-1"},
            ("plivo_powerpack_uuid", "pp-1"),
        ),
    ],
    ids=[
        "keys",
        "base-url",
        "log-level",
        "log-format",
        "rate-limit",
        "timeout",
        "sender-id",
        "sender-digits-only",
        "pool",
    ],
)
def test_a_setting_is_parsed_to_its_type(
    changes: dict[str, str | None], parsed: tuple[str, object]
) -> None:
    name, value = parsed

    assert getattr(load(**changes), name) == value


def _case_id(value: object) -> str:
    """A test id from the changed variables; the expected name adds nothing."""
    if isinstance(value, dict):
        return ",".join(f"{name}={given}" for name, given in value.items())
    return ""


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"PLIVO_AUTH_ID": None}, "PLIVO_AUTH_ID"),
        ({"PLIVO_AUTH_ID": "MA123"}, "PLIVO_AUTH_ID"),
        ({"PLIVO_AUTH_ID": "XX" + "0" * 18}, "PLIVO_AUTH_ID"),
        ({"PLIVO_AUTH_TOKEN": None}, "PLIVO_AUTH_TOKEN"),
        ({"PLIVO_AUTH_TOKEN": "   "}, "PLIVO_AUTH_TOKEN"),
        ({"API_KEY": None}, "API_KEY"),
        ({"API_KEY": " , ,"}, "API_KEY"),
        ({"PLIVO_SENDER_ID": None}, "PLIVO_SENDER_ID"),
        ({"PLIVO_POWERPACK_UUID": "pp-1"}, "PLIVO_POWERPACK_UUID"),
        ({"PLIVO_API_URL": "localhost:8099"}, "PLIVO_API_URL"),
        ({"API_BASE_URL": "ftp://sms.example.com"}, "API_BASE_URL"),
        ({"API_BASE_URL": "https://sms.example.com/?a=1"}, "API_BASE_URL"),
        ({"SEND_CONCURRENCY": "0"}, "SEND_CONCURRENCY"),
        ({"SEND_CONCURRENCY": "four"}, "SEND_CONCURRENCY"),
        ({"BULK_SYNC_LIMIT": "2.5"}, "BULK_SYNC_LIMIT"),
        ({"MAX_REQUEST_BYTES": "-1"}, "MAX_REQUEST_BYTES"),
        ({"PLIVO_TIMEOUT": "0"}, "PLIVO_TIMEOUT"),
        ({"PLIVO_TIMEOUT": "soon"}, "PLIVO_TIMEOUT"),
        ({"PLIVO_TIMEOUT": "inf"}, "PLIVO_TIMEOUT"),
        ({"PLIVO_TIMEOUT": "nan"}, "PLIVO_TIMEOUT"),
        ({"PLIVO_API_RPS": "-5"}, "PLIVO_API_RPS"),
        ({"PLIVO_ACCOUNT_MPS": "0"}, "PLIVO_ACCOUNT_MPS"),
        ({"REPORT_TIMEOUT": "Infinity"}, "REPORT_TIMEOUT"),
        ({"DEFAULT_REGION": "UK"}, "DEFAULT_REGION"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"LOG_LEVEL": "TRACE"}, "LOG_LEVEL"),
        ({"SEND_RATE_LIMIT": "lots"}, "SEND_RATE_LIMIT"),
        ({"SEND_RATE_LIMIT": "120 per fortnight"}, "SEND_RATE_LIMIT"),
    ],
    ids=_case_id,
)
def test_a_bad_setting_is_refused_with_a_message_naming_the_variable(
    changes: dict[str, str | None], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        load(**changes)


@pytest.mark.parametrize(
    "sender", ["!!!", "A" * 16, "Acme Shop 12", "12345", "+1 415 555 0100"]
)
def test_a_sender_plivo_cannot_send_from_stops_start_up_in_one_line_naming_it(
    sender: str,
) -> None:
    with pytest.raises(SettingsError) as raised:
        create_app({**VALID, "PLIVO_SENDER_ID": sender})

    message = str(raised.value)
    assert message.startswith("PLIVO_SENDER_ID ")
    assert "1 to 11 letters, digits and spaces" in message
    assert "\n" not in message


def test_the_app_refuses_to_start_with_a_bad_setting() -> None:
    with pytest.raises(SettingsError, match="SEND_RATE_LIMIT"):
        create_app({**VALID, "SEND_RATE_LIMIT": "as many as you like"})


def test_secrets_stay_out_of_the_settings_repr() -> None:
    settings = load(PLIVO_WEBHOOK_SECRET="the-webhook-secret")

    shown = repr(settings)

    assert "MAXXXXXXXXXXXXXXXXXX" in shown
    for secret in ("the-auth-token", "the-api-key", "the-webhook-secret"):
        assert secret not in shown
