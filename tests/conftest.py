"""Shared fixtures: the sandbox over real HTTP, apps built per test, a live
service for delivery reports, and an environment reset before every test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

from bulksms import close_app, create_app, settings
from bulksms.demo import WorkerProcess, free_port, serving
from bulksms.sandbox import SandboxConfig, SandboxServer
from bulksms.sandbox.config import FIXED_FIELDS
from bulksms.store import Store

API_KEY = "test-key"
OLD_API_KEY = "rotated-out-key"
SENDER = "+14155550100"
DATA = Path(__file__).parent / "data"

# Fast retry schedule: Plivo's real one is +60/+120/+240 seconds.
SANDBOX_DEFAULTS: dict[str, Any] = {
    "latency": 0.0,
    "report_statuses": ("queued", "sent"),
    "report_delay": 0.0,
    "report_duplicate_share": 0.0,
    "report_shuffle": False,
    "report_retry_delays": (0.05, 0.1, 0.2),
    "fault_429": 0.0,
    "fault_429_no_retry_after": 0.0,
    "fault_500": 0.0,
    "fault_503": 0.0,
    "fault_slow": 0.0,
    "fault_answer_lost": 0.0,
}

_SETTING_NAMES = [
    value
    for name, value in vars(settings).items()
    if name.isupper() and isinstance(value, str) and value.isupper()
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they pass, never the developer's shell."""
    for name in _SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)


_STARTING_CONFIG = SandboxConfig(seed=7, report_timeout=2.0, **SANDBOX_DEFAULTS)
# Every setting a test may change while the sandbox runs, as it started.
_STARTING_SANDBOX_SETTINGS = {
    name: value
    for name, value in _STARTING_CONFIG.public_settings().items()
    if name not in FIXED_FIELDS
}


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[SandboxServer]:
    config = _STARTING_CONFIG
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def sandbox(_sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The shared sandbox, emptied and back on its defaults for each test."""
    _sandbox_server.reset()
    _sandbox_server.set_faults(**_STARTING_SANDBOX_SETTINGS)
    yield _sandbox_server
    _sandbox_server.reset()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A new SQLite file, or ``BULKSMS_TEST_DATABASE_URL`` (PostgreSQL in CI)
    emptied and migrated: an app there checks the schema and never creates it."""
    url = os.environ.get("BULKSMS_TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path}/bulksms.sqlite3"

    empty_postgresql(url)
    store = Store(url)
    try:
        store.upgrade()
    finally:
        store.dispose()
    return url


def empty_postgresql(url: str) -> None:
    """Drop every table of the PostgreSQL database at ``url``, Alembic's too."""
    store = Store(url)
    try:
        with store.engine.begin() as connection:
            tables = connection.exec_driver_sql(
                "SELECT quote_ident(tablename) FROM pg_tables"
                " WHERE schemaname = current_schema()"
            ).scalars()
            names = ", ".join(tables)
            if names:
                connection.exec_driver_sql(f"DROP TABLE {names} CASCADE")
    finally:
        store.dispose()


@pytest.fixture
def redis_url() -> str | None:
    """``BULKSMS_TEST_REDIS_URL`` (Redis in CI's scaled pass), emptied; else None:
    the queue is then a SQLite file and rate limits live in memory."""
    url = os.environ.get("BULKSMS_TEST_REDIS_URL")
    if url:
        redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def make_config(
    sandbox: SandboxServer, database_url: str, redis_url: str | None
) -> Callable[..., dict[str, Any]]:
    """Settings for an app against the sandbox; keyword arguments override."""

    def make(**overrides: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "PLIVO_AUTH_ID": sandbox.config.auth_id,
            "PLIVO_AUTH_TOKEN": sandbox.config.auth_token,
            "PLIVO_API_URL": sandbox.url,
            "PLIVO_SENDER_ID": SENDER,
            "PLIVO_TIMEOUT": "5",
            "API_KEY": f"{API_KEY},{OLD_API_KEY}",
            "API_BASE_URL": "http://127.0.0.1:9",
            "DATABASE_URL": database_url,
            **({"REDIS_URL": redis_url} if redis_url else {}),
            **overrides,
        }
        return config

    return make


@pytest.fixture
def make_app(
    make_config: Callable[..., dict[str, Any]],
) -> Iterator[Callable[..., Flask]]:
    """Build an app against the sandbox; keyword arguments override settings."""

    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = create_app(make_config(**overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class LiveService:
    """The app served over real HTTP, where the sandbox can post reports."""

    app: Flask
    url: str
    config: dict[str, Any]

    def send(self, body: dict[str, Any], **headers: str) -> requests.Response:
        return requests.post(
            f"{self.url}/api/bulk-sms",
            json=body,
            headers={"X-API-Key": API_KEY, **headers},
            timeout=120,
        )

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        response = requests.get(
            f"{self.url}/api/bulk-sms/{campaign_id}",
            headers={"X-API-Key": API_KEY},
            timeout=30,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def make_live_service(
    make_config: Callable[..., dict[str, Any]], sandbox: SandboxServer
) -> Iterator[Callable[..., LiveService]]:
    """Start the app on a real port; keyword arguments override settings."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> LiveService:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            config = make_config(API_BASE_URL=url, **overrides)
            app = create_app(config)
            stack.callback(close_app, app)
            stack.enter_context(serving(app, port))
            return LiveService(app, url, config)

        yield start
        # Before the services close: no report may reach one being closed.
        sandbox.reset()


@pytest.fixture
def live_service(make_live_service: Callable[..., LiveService]) -> LiveService:
    return make_live_service()


# ``bulksms worker`` as a real process, with a live service's settings.
Worker = WorkerProcess


@pytest.fixture
def make_worker() -> Iterator[Callable[[LiveService], Worker]]:
    """Workers for a live service; all are stopped at the end of the test."""
    workers: list[Worker] = []

    def make(service: LiveService) -> Worker:
        worker = Worker(service.config, quiet=False)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


def numbers(count: int, start: int = 0) -> list[str]:
    """``count`` distinct valid US numbers, none of them the test sender."""
    area_codes = ("201", "212", "312", "415", "503", "617", "702", "808", "917")
    result = []
    for n in range(start, start + count):
        area = area_codes[n // 9000 % len(area_codes)]
        exchange = 200 + n // 10000 % 700
        result.append(f"+1{area}{exchange}{n % 10000:04d}")
    return result
