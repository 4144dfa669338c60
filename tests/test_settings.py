"""Start-up validation: a bad setting stops the service with a message that names
the variable, before it accepts a single campaign."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bulksms.settings
from bulksms import create_app
from bulksms.settings import Settings, SettingsError, masked_url

ROOT = Path(__file__).resolve().parent.parent

# Every variable the service reads: settings.py names each once, as a constant
# whose value is its own name.
SETTING_NAMES = sorted(
    value
    for name, value in vars(bulksms.settings).items()
    if isinstance(value, str) and name == value
)

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
        ({"PLIVO_SENDER_ID": "24681"}, ("plivo_sender_id", "24681")),
        (
            {"PLIVO_SENDER_ID": None, "PLIVO_POWERPACK_UUID": "pp-1"},
            ("plivo_powerpack_uuid", "pp-1"),
        ),
        (
            {"DATABASE_URL": "postgresql://bulksms:secret@db:5432/bulksms"},
            ("database_url", "postgresql://bulksms:secret@db:5432/bulksms"),
        ),
        (
            {"DATABASE_URL": "sqlite:///bulksms.db"},
            ("database_url", "sqlite:///bulksms.db"),
        ),
        (
            {"REDIS_URL": "rediss://:secret@cache:6380/0"},
            ("limits_storage_uri", "rediss://:secret@cache:6380/0"),
        ),
        (
            {"REDIS_URL": "unix:///run/redis.sock?db=2"},
            ("limits_storage_uri", "redis+unix:///run/redis.sock?db=2"),
        ),
        ({}, ("limits_storage_uri", "memory://")),
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
        "sender-short-code",
        "pool",
        "postgresql",
        "sqlite",
        "redis-tls",
        "redis-socket",
        "no-redis",
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
        ({"DATABASE_URL": "garbage"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://u@db/bulksms"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql+psycopg2://u@db/bulksms"}, "DATABASE_URL"),
        ({"REDIS_URL": "notaurl"}, "REDIS_URL"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://cache:port/0"}, "REDIS_URL"),
    ],
    ids=_case_id,
)
def test_a_bad_setting_is_refused_with_a_message_naming_the_variable(
    changes: dict[str, str | None], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        load(**changes)


@pytest.mark.parametrize(
    "sender", ["!!!", "A" * 16, "Acme Shop 12", "123456789", "+1 415 555 0100"]
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


@pytest.mark.parametrize(
    "changes",
    [
        {"DATABASE_URL": "mysql://root:hunter2@db/bulksms"},
        {"DATABASE_URL": "postgresql+asyncpg://bulksms:hunter2@db/bulksms"},
        {"REDIS_URL": "http://:hunter2@cache:6379"},
    ],
    ids=_case_id,
)
def test_a_refused_url_is_named_without_its_password(changes: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as refused:
        load(**changes)

    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "redis://app:hunter2@cache/0?password=hunter2",
            "redis://app:***@cache/0?password=***",
        ),
        ("unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"),
        (
            "postgresql+psycopg://app:hunter2@db/bulksms",
            "postgresql+psycopg://app:***@db/bulksms",
        ),
    ],
)
def test_a_url_shown_in_a_message_has_its_password_masked(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_every_setting_is_documented_in_env_example() -> None:
    example = (ROOT / ".env.example").read_text()

    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))

    assert set(SETTING_NAMES) - documented == set()


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]

    missing = [name for name in SETTING_NAMES if f"`{name}`" not in table]

    assert missing == []
