"""``bulksms sandbox``: run the Plivo sandbox in the foreground."""

from __future__ import annotations

import logging
import os
import threading

import click

from .config import (
    DEFAULT_AUTH_ID,
    DEFAULT_AUTH_TOKEN,
    SandboxConfig,
    SandboxConfigError,
)
from .server import SandboxServer


def _parse_outcomes(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dict[str, float] | None:
    if value is None:
        return None

    outcomes = {}
    for item in value.split(","):
        # Without "=", share is empty and float() refuses it too.
        status, _, share = item.partition("=")
        try:
            outcomes[status.strip()] = float(share)
        except ValueError:
            raise click.BadParameter(
                f"{item!r} is not STATUS=SHARE, e.g. delivered=0.9,failed=0.1"
            ) from None

    return outcomes


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8099, type=int, show_default=True)
@click.option(
    "--auth-id", envvar="PLIVO_AUTH_ID", default=DEFAULT_AUTH_ID, show_default=True
)
@click.option(
    "--auth-token",
    envvar="PLIVO_AUTH_TOKEN",
    default=DEFAULT_AUTH_TOKEN,
    help="Defaults to $PLIVO_AUTH_TOKEN, then a fixed sandbox token.",
)
@click.option("--latency", type=float, default=0.0, help="Seconds added to answers.")
@click.option(
    "--report-delay", type=float, default=0.0, help="Seconds before reports start."
)
@click.option("--seed", type=int, default=None, help="Seed for repeatable runs.")
@click.option(
    "--outcomes",
    callback=_parse_outcomes,
    help="Final status mix, e.g. delivered=0.9,undelivered=0.05,failed=0.05.",
)
@click.option(
    "--rates",
    "rates_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Price messages per destination from a rates file (prefix,price), as "
    "the service's estimates do. Default: 0.0065 a segment everywhere.",
)
def sandbox_command(
    host: str,
    port: int,
    auth_id: str,
    auth_token: str,
    latency: float,
    report_delay: float,
    seed: int | None,
    outcomes: dict[str, float] | None,
    rates_file: str | None,
) -> None:
    """Run a Plivo-compatible Message API that posts signed delivery reports."""
    try:
        config = SandboxConfig(
            auth_id=auth_id,
            auth_token=auth_token,
            latency=latency,
            report_delay=report_delay,
            seed=seed,
            rates_file=rates_file,
        )
        if outcomes is not None:
            config = config.with_changes({"outcomes": outcomes})
    except SandboxConfigError as exc:
        raise click.UsageError(str(exc)) from exc

    # Handlers belong to the edges; leave any the host CLI already set up.
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=os.environ.get("LOG_LEVEL", "INFO").upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )

    try:
        server = SandboxServer(config, host=host, port=port).start()
    except SandboxConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc

    click.echo(
        f"Plivo sandbox listening on {server.url} "
        f"(API base {server.api_base_uri}, auth id {config.auth_id}); Ctrl-C stops"
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
