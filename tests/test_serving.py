"""The production entry points, as the Procfile runs them: ``gunicorn wsgi:app``
with the settings of ``gunicorn.conf.py``, and ``bulksms worker``; and how the
service behaves while a backing service is down."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from conftest import API_KEY, SENDER, empty_postgresql, numbers
from flask import Flask
from sqlalchemy import func, select

from bulksms import DISPATCHER
from bulksms.demo import free_port
from bulksms.models import Campaign
from bulksms.sandbox.config import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN
from bulksms.store import get_store

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
BULKSMS = Path(sys.executable).with_name("bulksms")
AUTH = {"X-API-Key": API_KEY}
TEXT = "Your table is ready."


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "PLIVO_AUTH_ID": DEFAULT_AUTH_ID,
        "PLIVO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "PLIVO_SENDER_ID": SENDER,
        "API_KEY": API_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path}/bulksms.sqlite3",
        **settings,
    }


def gunicorn(port: int, tmp_path: Path, **settings: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(GUNICORN), "wsgi:app"],
        cwd=ROOT,
        env=environment(tmp_path, PORT=str(port), WEB_CONCURRENCY="2", **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_ready(server: subprocess.Popen[str], port: int) -> requests.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        except requests.ConnectionError:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "gunicorn did not start listening"
            time.sleep(0.2)


def unreachable_postgresql() -> str:
    """A PostgreSQL URL, with a password, where no server listens."""
    return f"postgresql+psycopg://bulksms:hunter2@127.0.0.1:{free_port()}/bulksms"


@pytest.fixture
def redis_down() -> str:
    """A valid Redis URL where no server listens: Redis is down."""
    return f"redis://127.0.0.1:{free_port()}/9"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    """Servers a test started, stopped when it ends whatever happened."""
    servers: list[subprocess.Popen[str]] = []
    yield servers
    for server in servers:
        server.terminate()
        # communicate() also closes the output pipe, which would otherwise be
        # left for the garbage collector to warn about in a later test.
        server.communicate(timeout=30)


def test_gunicorn_serves_the_app_on_port_from_the_environment(
    port: int, tmp_path: Path, stopped: list[subprocess.Popen[str]]
) -> None:
    server = gunicorn(port, tmp_path)
    stopped.append(server)

    ready = wait_until_ready(server, port)

    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "store": "ok",
        "queue": "ok",
        "rate_limits": "ok",
    }


def test_gunicorn_opens_no_control_socket_shared_with_other_instances(
    port: int, tmp_path: Path, stopped: list[subprocess.Popen[str]]
) -> None:
    server = gunicorn(port, tmp_path, HOME=str(tmp_path))
    stopped.append(server)

    wait_until_ready(server, port)

    assert not (tmp_path / ".gunicorn").exists()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("API_BASE_URL", "sms.example.com"),
        ("DATABASE_URL", "garbage"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "notaurl"),
    ],
)
def test_a_bad_setting_stops_gunicorn_with_one_line_naming_it(
    port: int, tmp_path: Path, variable: str, value: str
) -> None:
    server = gunicorn(port, tmp_path, **{variable: value})

    output, _ = server.communicate(timeout=30)

    assert server.returncode != 0
    assert f"bulksms: {variable}" in output
    assert "Booting worker" not in output
    assert "Traceback" not in output


def test_an_unreachable_database_stops_gunicorn_with_one_line_naming_it(
    port: int, tmp_path: Path
) -> None:
    url = unreachable_postgresql()
    server = gunicorn(port, tmp_path, DATABASE_URL=url)

    output, _ = server.communicate(timeout=30)

    assert server.returncode == 3
    masked = url.replace("hunter2", "***")
    assert f"bulksms: DATABASE_URL: cannot connect to {masked}: " in output
    assert "Connection refused" in output
    assert "hunter2" not in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("variable", "unreachable", "reason"),
    [
        ("DATABASE_URL", unreachable_postgresql, "Connection refused"),
        (
            "REDIS_URL",
            lambda: f"redis://:hunter2@127.0.0.1:{free_port()}/9",
            "Connection refused",
        ),
    ],
    ids=["database", "redis"],
)
def test_a_worker_facing_a_service_that_is_down_exits_with_one_line_naming_it(
    tmp_path: Path, variable: str, unreachable: Callable[[], str], reason: str
) -> None:
    url = unreachable()

    # Without the check, Huey's consumer would start and retry Redis forever.
    result = subprocess.run(
        [str(BULKSMS), "worker"],
        cwd=tmp_path,
        env=environment(tmp_path, LOG_LEVEL="WARNING", **{variable: url}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    masked = url.replace("hunter2", "***")
    assert result.stderr.startswith(f"Error: {variable}: cannot connect to {masked}: ")
    assert reason in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


@pytest.mark.scaled
@pytest.mark.postgresql
def test_a_database_behind_the_current_schema_stops_gunicorn_instead_of_respawning(
    port: int, tmp_path: Path, database_url: str
) -> None:
    # Beyond SQLite the release step migrates, never the app: an app facing an
    # empty schema must stop, and gunicorn with it.
    empty_postgresql(database_url)

    server = gunicorn(port, tmp_path, DATABASE_URL=database_url)
    output, _ = server.communicate(timeout=30)

    assert server.returncode == 3, output
    assert "run `bulksms db upgrade` first" in output
    assert "Worker failed to boot" in output


def test_readiness_names_the_queue_and_rate_limits_when_redis_is_down(
    make_app: Callable[..., Flask], redis_down: str
) -> None:
    client = make_app(REDIS_URL=redis_down).test_client()

    ready = client.get("/readyz")

    assert ready.status_code == 503
    assert ready.get_json() == {
        "status": "unavailable",
        "store": "ok",
        "queue": "unreachable",
        "rate_limits": "unreachable",
    }


@pytest.mark.parametrize("bulk_sync_limit", ["5000", "1"], ids=["sync", "queued"])
def test_a_send_while_redis_is_down_answers_503_and_stores_nothing(
    make_app: Callable[..., Flask], redis_down: str, bulk_sync_limit: str
) -> None:
    app = make_app(REDIS_URL=redis_down, BULK_SYNC_LIMIT=bulk_sync_limit)

    response = app.test_client().post(
        "/api/bulk-sms", json={"recipients": numbers(3), "message": TEXT}, headers=AUTH
    )

    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "queue_unavailable"
    assert error["message"] == (
        "the queue is unreachable; nothing was stored: send the campaign again later"
    )
    with app.app_context(), get_store().session() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_the_send_rate_limit_holds_in_memory_and_warns_while_redis_is_down(
    make_app: Callable[..., Flask], redis_down: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(
        REDIS_URL=redis_down, SEND_RATE_LIMIT="2 per minute"
    ).test_client()
    body = {"recipients": numbers(3), "message": TEXT}

    answers = [
        client.post("/api/bulk-sms/estimate", json=body, headers=AUTH).status_code
        for _ in range(3)
    ]

    assert answers == [200, 200, 429]
    assert any(
        record.levelno == logging.WARNING
        and "falling back to in-memory" in record.message
        for record in caplog.records
    )


def test_a_batch_that_gets_no_pacing_turn_waits_pending_for_the_worker(
    make_app: Callable[..., Flask], redis_down: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Queued by one process; then a worker whose Redis is down takes it.
    client = make_app(BULK_SYNC_LIMIT="1").test_client()
    campaign = client.post(
        "/api/bulk-sms", json={"recipients": numbers(3), "message": TEXT}, headers=AUTH
    ).get_json()
    worker = make_app(REDIS_URL=redis_down)

    worker.extensions[DISPATCHER].dispatch(campaign["id"])

    shown = worker.test_client().get(campaign["links"]["self"], headers=AUTH)
    assert [batch["state"] for batch in shown.get_json()["batches"]] == ["pending"]
    assert campaign["id"] in worker.extensions[DISPATCHER].recover(restarting=True)
    assert "given back unsent, no turn to call Plivo" in caplog.text
