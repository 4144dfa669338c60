"""The demo: the whole loop on one machine, with no Plivo account.

Starts the Plivo-compatible sandbox and the service, uploads a contact list to
the send API over HTTP, waits until every accepted recipient is settled, and
prints an account that must add up.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import make_server

from bulksms import create_app
from bulksms.sandbox import SandboxConfig, SandboxServer

DEMO_API_KEY = "demo-api-key"
DEMO_SENDER = "BulkSMS"
DEMO_MESSAGE = "Hello from bulksms: your table is ready. Reply STOP to opt out."


def sample_contacts() -> Path:
    return Path(str(resources.files("bulksms") / "data" / "sample-contacts.csv"))


@dataclass(frozen=True)
class DemoResult:
    campaign: dict[str, Any]
    destinations: dict[str, int]

    @property
    def adds_up(self) -> bool:
        return not account_errors(self.campaign)


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
    """Send ``contacts`` through the service and the sandbox; return the result."""
    with (
        SandboxServer(sandbox_config or SandboxConfig()) as sandbox,
        tempfile.TemporaryDirectory(prefix="bulksms-demo-") as workdir,
    ):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        app = create_app(
            {
                "LOG_LEVEL": "WARNING",
                "PLIVO_AUTH_ID": sandbox.config.auth_id,
                "PLIVO_AUTH_TOKEN": sandbox.config.auth_token,
                "PLIVO_API_URL": sandbox.url,
                "PLIVO_SENDER_ID": DEMO_SENDER,
                "API_KEY": DEMO_API_KEY,
                "API_BASE_URL": base_url,
                "DATABASE_URL": f"sqlite:///{workdir}/bulksms.sqlite3",
                **(overrides or {}),
            }
        )
        echo(f"sandbox listening on {sandbox.url}; service on {base_url}")

        with serving(app, port):
            campaign = _send(base_url, contacts, message, echo)
            campaign = _wait_until_settled(base_url, campaign, settle_timeout, echo)
        return DemoResult(campaign, sandbox.destinations())


def _send(
    base_url: str, contacts: Path, message: str, echo: Callable[[str], None]
) -> dict[str, Any]:
    echo(f"sending {contacts} ...")
    with contacts.open("rb") as upload:
        response = requests.post(
            f"{base_url}/api/bulk-sms",
            headers={"X-API-Key": DEMO_API_KEY},
            data={"message": message},
            files={"file": (contacts.name, upload, "text/csv")},
            timeout=600,
        )
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
        f"cost: {campaign['cost']['amount']} for {campaign['cost']['units']:,} units",
    ]
    errors = account_errors(campaign)
    lines.append(
        "the account adds up" if not errors else "MISMATCH: " + "; ".join(errors)
    )
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
