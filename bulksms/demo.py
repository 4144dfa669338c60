"""The demo: the whole loop on one machine, with no Plivo account.

Starts the Plivo-compatible sandbox and the service, uploads a contact list to
the send API over HTTP, waits until every accepted recipient is settled, and
prints an account that must add up, with every recipient in the final status the
sandbox decided for it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

import requests
from flask import Flask
from requests import Response
from werkzeug.serving import make_server

from bulksms import create_app
from bulksms.rates import DEFAULT_RATES_FILE
from bulksms.sandbox import SandboxConfig
from bulksms.sandbox.config import FIXED_FIELDS

DEMO_API_KEY = "demo-api-key"
DEMO_SENDER = "BulkSMS"
DEMO_MESSAGE = "Hello from bulksms: your table is ready. Reply STOP to opt out."


def sample_contacts() -> Path:
    return Path(str(resources.files("bulksms") / "data" / "sample-contacts.csv"))


# A recipient's delivery status and Plivo error code, as the service holds it.
Delivery = tuple[str | None, str | None]


@dataclass(frozen=True)
class DemoResult:
    campaign: dict[str, Any]
    destinations: dict[str, int]
    outcomes: dict[str, Any]
    deliveries: dict[str, Delivery]
    estimated_cost: str

    @property
    def adds_up(self) -> bool:
        return not account_errors(self.campaign) and not self.outcome_mismatches()

    def outcome_mismatches(self) -> list[str]:
        """Numbers whose status differs from what the sandbox decided for them.

        A number the sandbox never accepted has no outcome there and must have
        no delivery status here either.
        """
        decided: dict[str, Delivery] = {
            number: (
                outcome["status"],
                None if outcome["error_code"] is None else str(outcome["error_code"]),
            )
            for number, outcome in self.outcomes.items()
        }
        numbers = decided.keys() | self.deliveries.keys()
        return sorted(
            number
            for number in numbers
            if decided.get(number, (None, None))
            != self.deliveries.get(number, (None, None))
        )


def account_errors(campaign: dict[str, Any]) -> list[str]:
    """The sums of the campaign's account that do not hold (none, when correct)."""
    recipients = campaign["recipients"]
    submission = campaign["submission"]
    statuses = campaign["statuses"]
    errors = []

    intake = sum(recipients[k] for k in ("invalid", "duplicates", "suppressed"))
    if recipients["received"] != intake + recipients["accepted"]:
        errors.append("received != invalid + duplicates + suppressed + accepted")
    if recipients["accepted"] != sum(submission.values()):
        errors.append("accepted != the sum of submission states")
    if submission["submitted"] != sum(statuses.values()):
        errors.append("submitted != the sum of delivery statuses")
    return errors


def run_demo(
    contacts: Path,
    *,
    message: str = DEMO_MESSAGE,
    sandbox_config: SandboxConfig | None = None,
    overrides: dict[str, Any] | None = None,
    settle_timeout: float = 600.0,
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Send ``contacts`` through the service and the sandbox; return the result.

    The sandbox and the worker run as processes of their own, as they would in
    production, so the three share the machine's cores.
    """
    # The sandbox charges by the service's own rates, so that the estimate made
    # before sending can be held against what Plivo would bill.
    sandbox_config = sandbox_config or SandboxConfig(rates_file=str(DEFAULT_RATES_FILE))
    with (
        SandboxProcess(sandbox_config) as sandbox,
        tempfile.TemporaryDirectory(prefix="bulksms-demo-") as workdir,
    ):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        config = {
            "LOG_LEVEL": "WARNING",
            "PLIVO_AUTH_ID": sandbox_config.auth_id,
            "PLIVO_AUTH_TOKEN": sandbox_config.auth_token,
            "PLIVO_API_URL": sandbox.url,
            "PLIVO_SENDER_ID": DEMO_SENDER,
            "API_KEY": DEMO_API_KEY,
            "API_BASE_URL": base_url,
            "DATABASE_URL": f"sqlite:///{workdir}/bulksms.sqlite3",
            **(overrides or {}),
        }
        app = create_app(config)
        echo(f"sandbox listening on {sandbox.url}; service on {base_url}")

        with serving(app, port), WorkerProcess(config):
            estimated_cost = _estimate(base_url, contacts, message)
            campaign = _send(base_url, contacts, message, echo)
            campaign = _wait_until_settled(base_url, campaign, settle_timeout, echo)
            deliveries = _deliveries(base_url, campaign["id"])
        return DemoResult(
            campaign,
            sandbox.destinations(),
            sandbox.outcomes(),
            deliveries,
            estimated_cost,
        )


class SandboxProcess:
    """``bulksms sandbox`` in a process of its own, driven by its control API."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{free_port()}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SandboxProcess:
        command = [sys.executable, "-m", "bulksms", "sandbox"]
        command += ["--port", self.url.rsplit(":", 1)[1]]
        command += ["--auth-id", self.config.auth_id]
        command += ["--auth-token", self.config.auth_token]
        if self.config.seed is not None:
            command += ["--seed", str(self.config.seed)]
        if self.config.rates_file is not None:
            command += ["--rates", self.config.rates_file]
        env = {**os.environ, "LOG_LEVEL": "WARNING"}
        self._process = subprocess.Popen(  # noqa: S603
            command, env=env, stdout=subprocess.DEVNULL
        )

        self._wait_until_listening()
        # Everything else is settable while it runs.
        settings = {
            name: value
            for name, value in self.config.public_settings().items()
            if name not in FIXED_FIELDS
        }
        requests.post(f"{self.url}/sandbox/faults", json=settings, timeout=10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def destinations(self) -> dict[str, int]:
        destinations: dict[str, int] = self._get("/sandbox/destinations")
        return destinations

    def outcomes(self) -> dict[str, Any]:
        outcomes: dict[str, Any] = self._get("/sandbox/outcomes")
        return outcomes

    def _get(self, path: str) -> Any:
        response = requests.get(self.url + path, timeout=60)
        response.raise_for_status()
        return response.json()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/sandbox/faults", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"the sandbox did not start on {self.url}")


class WorkerProcess:
    """``bulksms worker`` as a process of its own, with ``config`` as its
    environment: for the demo and the tests."""

    def __init__(self, config: dict[str, Any], *, quiet: bool = True) -> None:
        self._env = {**os.environ, **{k: str(v) for k, v in config.items()}}
        self._quiet = quiet
        self.process: subprocess.Popen[str] | None = None
        self._relay_thread: threading.Thread | None = None

    def start(self) -> WorkerProcess:
        """Start the worker and return once it is ready.

        Until it prints its first line the worker is still importing, with no
        signal handlers of its own: stopping it then would end it with a
        traceback instead of Huey's clean stop.
        """
        command = [sys.executable, "-m", "bulksms", "worker"]
        process = subprocess.Popen(  # noqa: S603
            command, env=self._env, stdout=subprocess.PIPE, text=True
        )
        self.process = process
        assert process.stdout is not None
        output = process.stdout

        first_line = output.readline()
        if not first_line:
            code = process.wait()
            raise RuntimeError(f"the worker stopped while starting (exit {code})")
        self._relay(first_line)
        self._relay_thread = threading.Thread(
            target=self._relay_all, args=(output,), daemon=True
        )
        self._relay_thread.start()
        return self

    def _relay_all(self, output: IO[str]) -> None:
        # Read to the end even when quiet, so the worker never blocks on a full
        # pipe.
        with output:
            for line in output:
                self._relay(line)

    def _relay(self, line: str) -> None:
        if not self._quiet:
            sys.stdout.write(line)
            sys.stdout.flush()

    def kill(self) -> None:
        """SIGKILL: no clean-up runs, as when a machine dies."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self._join_relay()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGINT is Huey's graceful stop: the batch in flight finishes first.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._join_relay()

    def _join_relay(self) -> None:
        # The output ends with the process; its pipe is closed once read.
        if self._relay_thread is not None:
            self._relay_thread.join(timeout=10)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _upload(base_url: str, path: str, contacts: Path, message: str) -> Response:
    with contacts.open("rb") as upload:
        return requests.post(
            f"{base_url}{path}",
            headers={"X-API-Key": DEMO_API_KEY},
            data={"message": message},
            files={"file": (contacts.name, upload, "text/csv")},
            timeout=600,
        )


def _estimate(base_url: str, contacts: Path, message: str) -> str:
    """What the service expects the campaign to cost, before it is sent."""
    response = _upload(base_url, "/api/bulk-sms/estimate", contacts, message)
    if response.status_code != 200:
        raise RuntimeError(
            f"the estimate API answered {response.status_code}: {response.text}"
        )
    total: str = response.json()["cost"]["total"]
    return total


def _send(
    base_url: str, contacts: Path, message: str, echo: Callable[[str], None]
) -> dict[str, Any]:
    echo(f"sending {contacts} ...")
    response = _upload(base_url, "/api/bulk-sms", contacts, message)
    if response.status_code >= 400 and response.status_code != 502:
        raise RuntimeError(
            f"the send API answered {response.status_code}: {response.text}"
        )
    campaign: dict[str, Any] = response.json()
    echo(f"campaign {campaign['id']}: HTTP {response.status_code}, {campaign['state']}")
    return campaign


def _wait_until_settled(
    base_url: str,
    campaign: dict[str, Any],
    timeout: float,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    url = f"{base_url}/api/bulk-sms/{campaign['id']}"
    while campaign["state"] in ("queued", "sending", "submitted"):
        if time.monotonic() > deadline:
            echo(f"gave up waiting after {timeout:.0f} s")
            break
        time.sleep(0.5)
        answer = requests.get(url, headers={"X-API-Key": DEMO_API_KEY}, timeout=30)
        answer.raise_for_status()
        campaign = answer.json()
    return campaign


def _deliveries(base_url: str, campaign_id: str) -> dict[str, Delivery]:
    """Every accepted recipient's delivery status, read page by page."""
    deliveries: dict[str, Delivery] = {}
    link: str | None = (
        f"/api/bulk-sms/{campaign_id}/recipients?status=accepted&per_page=1000"
    )
    while link is not None:
        answer = requests.get(
            base_url + link, headers={"X-API-Key": DEMO_API_KEY}, timeout=30
        )
        answer.raise_for_status()
        page = answer.json()
        for recipient in page["recipients"]:
            deliveries[recipient["e164"]] = (
                recipient["status"],
                recipient["error_code"],
            )
        link = page["links"]["next"]
    return deliveries


def summary(result: DemoResult) -> list[str]:
    """The account, one line per sum, as the CLI prints it."""
    campaign = result.campaign
    recipients = campaign["recipients"]
    batch_states: dict[str, int] = {}
    for batch in campaign["batches"]:
        batch_states[batch["state"]] = batch_states.get(batch["state"], 0) + 1
    sent_more_than_once = sum(1 for n in result.destinations.values() if n > 1)

    lines = [
        f"campaign {campaign['id']}: {campaign['state']}",
        "recipients: received {received:,} = invalid {invalid:,} + duplicates "
        "{duplicates:,} + suppressed {suppressed:,} + accepted {accepted:,}".format(
            **recipients
        ),
        f"batches: {len(campaign['batches'])} ("
        + ", ".join(f"{s} {n}" for s, n in sorted(batch_states.items()))
        + ")",
        f"accepted {recipients['accepted']:,} = "
        + " + ".join(f"{s} {n:,}" for s, n in campaign["submission"].items() if n),
        f"submitted {campaign['submission']['submitted']:,} = "
        + " + ".join(f"{s} {n:,}" for s, n in campaign["statuses"].items() if n),
        f"sandbox: {len(result.destinations):,} distinct destinations, "
        f"{sent_more_than_once} submitted more than once",
        f"cost: {campaign['cost']['amount']} for {campaign['cost']['units']:,} units "
        f"(estimated {result.estimated_cost})",
        *delivery_table(campaign["statuses"]),
    ]
    mismatches = result.outcome_mismatches()
    matched = result.deliveries.keys() - set(mismatches)
    lines.append(
        f"{len(matched):,} of "
        f"{len(result.deliveries):,} accepted recipients end in the status the "
        "sandbox decided"
    )
    errors = account_errors(campaign)
    if mismatches:
        errors.append(f"{len(mismatches):,} recipients not in the sandbox's status")
    lines.append(
        "the account adds up" if not errors else "MISMATCH: " + "; ".join(errors)
    )
    return lines


def delivery_table(statuses: dict[str, int]) -> list[str]:
    """Final delivery statuses with their share of submitted recipients."""
    total = sum(statuses.values())
    lines = [f"{'delivery status':<16}{'recipients':>12}{'share':>9}"]
    for status, count in statuses.items():
        if count:
            lines.append(f"{status:<16}{count:>12,}{count / total:>9.1%}")
    return lines


@contextmanager
def serving(app: Flask, port: int) -> Iterator[None]:
    """Serve ``app`` on 127.0.0.1:``port`` from a background thread."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join()


def free_port() -> int:
    """A port that was free a moment ago; the app must know its public URL,
    which holds the port, before the server that listens on it exists."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
