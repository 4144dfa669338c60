"""Settings: defaults in code, overridden by the environment (and ``.env``).

Every variable is named once here. ``Settings.load`` parses and validates all of
them at start-up and stops with a message naming the variable that is wrong, so a
misconfigured deployment fails before it accepts a single campaign.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import phonenumbers
import redis
from limits import parse_many
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bulksms.recipients import SENDER_RULE, is_valid_sender

PLIVO_AUTH_ID = "PLIVO_AUTH_ID"
PLIVO_AUTH_TOKEN = "PLIVO_AUTH_TOKEN"  # noqa: S105 (a variable name, not a secret)
PLIVO_SENDER_ID = "PLIVO_SENDER_ID"
PLIVO_POWERPACK_UUID = "PLIVO_POWERPACK_UUID"
PLIVO_WEBHOOK_SECRET = "PLIVO_WEBHOOK_SECRET"  # noqa: S105
PLIVO_API_URL = "PLIVO_API_URL"
PLIVO_TIMEOUT = "PLIVO_TIMEOUT"
API_KEY = "API_KEY"
API_BASE_URL = "API_BASE_URL"
DATABASE_URL = "DATABASE_URL"
REDIS_URL = "REDIS_URL"
BULK_SYNC_LIMIT = "BULK_SYNC_LIMIT"
SEND_CONCURRENCY = "SEND_CONCURRENCY"
PLIVO_API_RPS = "PLIVO_API_RPS"
PLIVO_ACCOUNT_MPS = "PLIVO_ACCOUNT_MPS"
DEFAULT_REGION = "DEFAULT_REGION"
MAX_REQUEST_BYTES = "MAX_REQUEST_BYTES"
SEND_RATE_LIMIT = "SEND_RATE_LIMIT"
REPORT_TIMEOUT = "REPORT_TIMEOUT"
RETRY_UNKNOWN_AFTER = "RETRY_UNKNOWN_AFTER"
WORKER_THREADS = "WORKER_THREADS"
RATES_FILE = "RATES_FILE"
LOG_FORMAT = "LOG_FORMAT"
LOG_LEVEL = "LOG_LEVEL"

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# The databases the service runs on, by backend, with the one driver installed
# for each; any other would fail on its first connection with an import error.
DATABASE_DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    plivo_auth_id: str
    plivo_auth_token: str = field(repr=False)
    api_keys: tuple[str, ...] = field(repr=False)
    api_base_url: str
    plivo_sender_id: str | None = None
    plivo_powerpack_uuid: str | None = None
    plivo_webhook_secret: str | None = field(default=None, repr=False)
    plivo_api_url: str | None = None
    plivo_timeout: float = 10.0
    database_url: str | None = None
    redis_url: str | None = None
    bulk_sync_limit: int = 5000
    send_concurrency: int = 4
    plivo_api_rps: float = 50.0
    plivo_account_mps: float | None = None
    default_region: str = "US"
    max_request_bytes: int = 64 * 1024 * 1024
    send_rate_limit: str = "120 per minute"
    report_timeout: float = 72 * 3600.0
    retry_unknown_after: float = 3600.0
    worker_threads: int = 2
    rates_file: str | None = None
    log_format: str = "text"
    log_level: str = "INFO"

    @property
    def webhook_key(self) -> str:
        """The key Plivo signs callbacks with: the auth token unless overridden."""
        return self.plivo_webhook_secret or self.plivo_auth_token

    @property
    def limits_storage_uri(self) -> str:
        """Where the rate-limit and pacing counters live, spelled for ``limits``:
        Redis when ``REDIS_URL`` is set, else this process's memory."""
        if self.redis_url is None:
            return "memory://"
        if self.redis_url.startswith("unix://"):
            return "redis+" + self.redis_url
        return self.redis_url

    @property
    def delivery_report_url(self) -> str:
        """The public URL Plivo posts delivery reports to.

        Batches are sent with this URL and the webhook checks signatures against
        it, so the two are built in one place and cannot drift apart.
        """
        return self.api_base_url + "/api/webhooks/plivo/delivery-report"

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> Settings:
        """Read settings from the environment, with ``overrides`` taking precedence.

        Raises ``SettingsError`` naming the first variable that is wrong.
        """
        source = _Source({**os.environ, **(overrides or {})})
        auth_id = source.auth_id()
        auth_token = source.required(PLIVO_AUTH_TOKEN)

        sender = source.sender(PLIVO_SENDER_ID)
        powerpack = source.text(PLIVO_POWERPACK_UUID)
        if sender and powerpack:
            raise SettingsError(
                f"{PLIVO_SENDER_ID} and {PLIVO_POWERPACK_UUID} are both set; Plivo "
                "takes exactly one of them"
            )
        if not sender and not powerpack:
            raise SettingsError(
                f"{PLIVO_SENDER_ID} or {PLIVO_POWERPACK_UUID} must be set: the "
                "sender number or id, or the number pool to send from"
            )

        keys = tuple(
            k.strip() for k in source.required(API_KEY).split(",") if k.strip()
        )
        if not keys:
            raise SettingsError(f"{API_KEY} must hold at least one key")

        return cls(
            plivo_auth_id=auth_id,
            plivo_auth_token=auth_token,
            plivo_sender_id=sender,
            plivo_powerpack_uuid=powerpack,
            plivo_webhook_secret=source.text(PLIVO_WEBHOOK_SECRET),
            plivo_api_url=source.url(PLIVO_API_URL),
            plivo_timeout=source.number(PLIVO_TIMEOUT, 10.0),
            api_keys=keys,
            api_base_url=source.url(API_BASE_URL) or "http://127.0.0.1:5000",
            database_url=parse_database_url(source.text(DATABASE_URL)),
            redis_url=source.redis_url(REDIS_URL),
            bulk_sync_limit=source.integer(BULK_SYNC_LIMIT, 5000),
            send_concurrency=source.integer(SEND_CONCURRENCY, 4),
            plivo_api_rps=source.number(PLIVO_API_RPS, 50.0),
            plivo_account_mps=source.optional_number(PLIVO_ACCOUNT_MPS),
            default_region=source.region(DEFAULT_REGION, "US"),
            max_request_bytes=source.integer(MAX_REQUEST_BYTES, 64 * 1024 * 1024),
            send_rate_limit=source.rate_limit(SEND_RATE_LIMIT, "120 per minute"),
            report_timeout=source.number(REPORT_TIMEOUT, 72 * 3600.0),
            retry_unknown_after=source.number(RETRY_UNKNOWN_AFTER, 3600.0),
            worker_threads=source.integer(WORKER_THREADS, 2),
            rates_file=source.text(RATES_FILE),
            log_format=source.choice(LOG_FORMAT, LOG_FORMATS, "text"),
            log_level=source.choice(LOG_LEVEL, LOG_LEVELS, "INFO").upper(),
        )


def parse_database_url(value: str | None) -> str | None:
    """Check ``DATABASE_URL`` names a database the service runs on; None when
    unset. Raises ``SettingsError`` naming the variable, never echoing a
    password."""
    if value is None:
        return None

    try:
        url = make_url(value)
    except ArgumentError:
        raise SettingsError(
            f"{DATABASE_URL} must be a database URL such as "
            "postgresql+psycopg://user:password@host:5432/bulksms"
        ) from None

    backend = url.get_backend_name()
    if backend not in DATABASE_DRIVERS:
        raise SettingsError(
            f"{DATABASE_URL} must be a sqlite:// or postgresql:// URL, "
            f"got {url.drivername}://"
        )
    driver = DATABASE_DRIVERS[backend]
    if url.get_driver_name() != driver:
        raise SettingsError(
            f"{DATABASE_URL} must use the {driver} driver ({backend}+{driver}://), "
            f"got {url.drivername}://"
        )
    return value


def masked_url(url: str | URL) -> str:
    """``url`` with its password replaced by ``***``, fit for a message or a log."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    # Redis also takes the password as a query parameter.
    if parts.password is None and "password" not in dict(query):
        return url

    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    masked = [(k, "***" if k == "password" else v) for k, v in query]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(masked, safe="*")))


class _Source:
    """Typed reads from one mapping of raw string values."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def text(self, name: str) -> str | None:
        value = self._values.get(name)
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise SettingsError(f"{name} is required and not set")
        return value

    def auth_id(self) -> str:
        # The SDK's constructor rejects anything else; saying so here names the
        # variable instead of failing deep inside the first send.
        value = self.required(PLIVO_AUTH_ID)
        if len(value) != 20 or value[:2] not in ("MA", "SA"):
            raise SettingsError(
                f"{PLIVO_AUTH_ID} must be 20 characters starting with MA or SA"
            )
        return value

    def sender(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and not is_valid_sender(value):
            raise SettingsError(
                f"{name} is not a sender Plivo can send from, got {value!r}: "
                + SENDER_RULE
            )
        return value

    def url(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"{name} must be an http(s) URL, got {value!r}")
        if parts.query or parts.fragment:
            raise SettingsError(f"{name} must not have a query or fragment")
        return value.rstrip("/")

    def redis_url(self, name: str) -> str | None:
        # Huey and limits would refuse a bad URL with a traceback that names no
        # variable; redis-py's parser, which both of them use, says what is wrong.
        value = self.text(name)
        if value is None:
            return None
        try:
            redis.ConnectionPool.from_url(value)
        except ValueError as exc:
            raise SettingsError(f"{name} is not a Redis URL: {exc}") from None
        return value

    def integer(self, name: str, default: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(
                f"{name} must be a whole number, got {value!r}"
            ) from None
        if number < 1:
            raise SettingsError(f"{name} must be at least 1, got {number}")
        return number

    def optional_number(self, name: str) -> float | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {value!r}") from None
        if not (number > 0 and math.isfinite(number)):
            raise SettingsError(
                f"{name} must be a finite number greater than 0, got {value}"
            )
        return number

    def number(self, name: str, default: float) -> float:
        number = self.optional_number(name)
        return default if number is None else number

    def rate_limit(self, name: str, default: str) -> str:
        # flask-limiter only logs a limit it cannot parse and then applies none.
        value = self.text(name) or default
        try:
            parse_many(value)
        except ValueError:
            raise SettingsError(
                f"{name} must be a rate limit such as '120 per minute', got {value!r}"
            ) from None
        return value

    def region(self, name: str, default: str) -> str:
        value = (self.text(name) or default).upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise SettingsError(
                f"{name} must be an ISO 3166 region code, got {value!r}"
            )
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(name) or default
        if value.upper() not in (c.upper() for c in choices):
            raise SettingsError(f"{name} must be one of {', '.join(choices)}")
        return value.lower() if name == LOG_FORMAT else value
