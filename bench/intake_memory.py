"""Peak memory of the service while it takes in a 1,000,000-recipient campaign.

Builds the JSON body of a send request, starts the service under gunicorn in a
child process (one worker, otherwise as in the Procfile) with ``BULK_SYNC_LIMIT``
below the list, so that the request only stores and queues the campaign, posts
it, and reports the gunicorn worker's peak resident memory (``VmHWM`` in
``/proc/<pid>/status``) and how long the request took. The goal: under 1 GiB.

    .venv/bin/python bench/intake_memory.py
    .venv/bin/python bench/intake_memory.py --recipients 200000
    .venv/bin/python bench/intake_memory.py --database-url postgresql+psycopg://...

No Plivo call is made; the Plivo settings only have to look right. A database
given by URL is migrated first and keeps each run's campaign: give it a
throwaway one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from bulksms.store import Store

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key"
GOAL = 1024**3
TEXT = "Spring sale starts today. Reply STOP to opt out."
AREA_CODES = ("201", "212", "312", "415", "503", "617", "702", "808", "917")


def numbers(count: int) -> Iterator[str]:
    """``count`` distinct valid US numbers, the way the tests make them."""
    for n in range(count):
        area = AREA_CODES[n // 9000 % len(AREA_CODES)]
        exchange = 200 + n // 10000 % 700
        yield f"+1{area}{exchange}{n % 10000:04d}"


def request_body(count: int) -> bytes:
    body = {"recipients": list(numbers(count)), "message": TEXT}
    return json.dumps(body).encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def status_field(pid: int, name: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(name)


@contextmanager
def gunicorn(env: dict[str, str], port: int) -> Iterator[int]:
    """Serve ``wsgi:app`` with one gunicorn worker; yields the worker's pid."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers=1",
        "--threads=8",
        "--timeout=120",
        f"--bind=127.0.0.1:{port}",
        f"--chdir={ROOT}",
        "wsgi:app",
    ]
    master = subprocess.Popen(command, env=env)
    try:
        yield _wait_for_worker(master, port)
    finally:
        master.terminate()
        master.wait(timeout=60)


def _wait_for_worker(master: subprocess.Popen[bytes], port: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if master.poll() is not None:
            raise SystemExit(f"gunicorn exited with {master.returncode}")
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        except requests.ConnectionError:
            time.sleep(0.2)
            continue
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text()
        return int(children.split()[0])
    raise SystemExit("gunicorn did not start within 60 s")


def service_env(workdir: str, database_url: str | None, count: int) -> dict[str, str]:
    return {
        **os.environ,
        "PLIVO_AUTH_ID": "MA" + "X" * 18,
        "PLIVO_AUTH_TOKEN": "bench-token",
        "PLIVO_SENDER_ID": "+14155550100",
        "API_KEY": API_KEY,
        "DATABASE_URL": database_url or f"sqlite:///{workdir}/bulksms.sqlite3",
        "BULK_SYNC_LIMIT": str(max(1, count // 2)),
        "LOG_LEVEL": "WARNING",
    }


def run(count: int, database_url: str | None) -> dict[str, Any]:
    if database_url:
        # As the release step does; the app refuses a schema that is not current.
        store = Store(database_url)
        store.upgrade()
        store.dispose()

    started = time.monotonic()
    body = request_body(count)
    built = time.monotonic() - started

    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="bulksms-bench-") as workdir,
        gunicorn(service_env(workdir, database_url, count), port) as pid,
    ):
        before = status_field(pid, "VmRSS")
        started = time.monotonic()
        response = requests.post(
            f"http://127.0.0.1:{port}/api/bulk-sms",
            data=body,
            headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
            timeout=3600,
        )
        took = time.monotonic() - started
        peak = status_field(pid, "VmHWM")

    answer = response.json()
    return {
        "recipients": count,
        "body_mib": len(body) / 1024**2,
        "build_s": built,
        "status": response.status_code,
        "state": answer.get("state"),
        "accepted": answer.get("recipients", {}).get("accepted"),
        "rss_before_mib": before / 1024**2,
        "peak_mib": peak / 1024**2,
        "request_s": took,
        "under_goal": peak < GOAL,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite")
    args = parser.parse_args()

    result = run(args.recipients, args.database_url)
    print(
        "{recipients:,} recipients ({body_mib:.1f} MiB of JSON): HTTP {status}, "
        "{state}, {accepted:,} accepted in {request_s:.1f} s; gunicorn worker "
        "RSS {rss_before_mib:.0f} MiB before, peak {peak_mib:.0f} MiB".format(**result)
    )
    print("under 1 GiB" if result["under_goal"] else "OVER 1 GiB")
    sys.exit(0 if result["under_goal"] else 1)


if __name__ == "__main__":
    main()
