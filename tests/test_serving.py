"""The production entry point, as the Procfile runs it: ``gunicorn wsgi:app``
with the settings of ``gunicorn.conf.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import API_KEY, SENDER

from bulksms.demo import free_port
from bulksms.models import Base
from bulksms.sandbox.config import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN
from bulksms.store import Store

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def gunicorn(port: int, tmp_path: Path, **settings: str) -> subprocess.Popen[str]:
    environment = {
        "PATH": os.environ["PATH"],
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PLIVO_AUTH_ID": DEFAULT_AUTH_ID,
        "PLIVO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "PLIVO_SENDER_ID": SENDER,
        "API_KEY": API_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path}/bulksms.sqlite3",
        **settings,
    }
    return subprocess.Popen(
        [str(GUNICORN), "wsgi:app"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


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

    deadline = time.monotonic() + 30
    while True:
        try:
            ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            break
        except requests.ConnectionError:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "gunicorn did not start listening"
            time.sleep(0.2)

    assert ready.status_code == 200
    assert ready.json()["store"] == "ok"


def test_a_bad_setting_stops_gunicorn_with_one_line_naming_it(
    port: int, tmp_path: Path
) -> None:
    server = gunicorn(port, tmp_path, API_BASE_URL="sms.example.com")

    output, _ = server.communicate(timeout=30)

    assert server.returncode != 0
    assert "bulksms: API_BASE_URL" in output
    assert "Booting worker" not in output
    assert "Traceback" not in output


@pytest.mark.scaled
@pytest.mark.postgresql
def test_a_database_behind_the_current_schema_stops_gunicorn_instead_of_respawning(
    port: int, tmp_path: Path, database_url: str
) -> None:
    # Beyond SQLite the release step migrates, never the app: an app facing an
    # empty schema must stop, and gunicorn with it.
    store = Store(database_url)
    with store.engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.exec_driver_sql("DROP TABLE alembic_version")
    store.dispose()

    server = gunicorn(port, tmp_path, DATABASE_URL=database_url)
    output, _ = server.communicate(timeout=30)

    assert server.returncode == 3
    assert "run `bulksms db upgrade` first" in output
    assert "Worker failed to boot" in output
