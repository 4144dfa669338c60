"""The ``bulksms`` command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click
from dotenv import load_dotenv

from bulksms import logs
from bulksms.errors import TextTooLong
from bulksms.migrate import db_command
from bulksms.sandbox.cli import sandbox_command
from bulksms.segments import analyse, check_limits
from bulksms.settings import SettingsError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # A configuration mistake is the operator's to fix: one line naming the
        # variable, not a traceback.
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group)
def main() -> None:
    """Send one SMS text to large recipient lists through Plivo."""
    load_dotenv()


@main.command()
@click.option(
    "--contacts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV contact list (a 'phone' column or the first column). "
    "Default: the sample list shipped with bulksms.",
)
@click.option("--message", default=None, help="The text to send.")
@click.option(
    "--timeout",
    default=600.0,
    show_default=True,
    help="Seconds to wait for every recipient to settle.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every Plivo call.")
def demo(
    contacts: Path | None, message: str | None, timeout: float, verbose: bool
) -> None:
    """Run a campaign end to end against the built-in Plivo sandbox."""
    from bulksms.demo import DEMO_MESSAGE, run_demo, sample_contacts, summary

    logs.configure("text", "INFO" if verbose else "WARNING")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    result = run_demo(
        contacts or sample_contacts(),
        message=message or DEMO_MESSAGE,
        overrides={"LOG_LEVEL": "INFO" if verbose else "WARNING"},
        settle_timeout=timeout,
        echo=click.echo,
    )
    for line in summary(result):
        click.echo(line)
    if not result.adds_up:
        sys.exit(1)


@main.command()
@click.argument("text")
def segments(text: str) -> None:
    """Print how TEXT is encoded and how many SMS segments it costs; exit 1 when
    Plivo would refuse it as too long."""
    if not text.strip():
        raise click.BadParameter("the text is empty; Plivo sends no empty message")

    facts = analyse(text)
    click.echo(f"encoding: {facts.encoding.value}")
    click.echo(f"characters: {facts.characters}")
    click.echo(f"units: {facts.units}")
    click.echo(f"segments: {facts.segments}")
    for character in facts.non_gsm_characters:
        positions = ", ".join(str(p) for p in character.positions)
        click.echo(
            f"forces UCS-2: {character.character!r} ({character.name}) at {positions}"
        )

    try:
        check_limits(facts)
    except TextTooLong as exc:
        click.echo(f"too long: {exc.message}")
        sys.exit(1)


@main.command()
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Campaigns worked on at once. Default: WORKER_THREADS (2).",
)
def worker(threads: int | None) -> None:
    """Send queued campaigns; recovers batches a stopped worker left behind."""
    from bulksms import DISPATCHER, create_app
    from bulksms.errors import Unavailable
    from bulksms.queue import EXTENSION

    app = create_app()
    # Huey's consumer would start anyway and retry its queue in silence.
    try:
        app.extensions[EXTENSION].check()
        app.extensions[DISPATCHER].check()
    except Unavailable as exc:
        raise click.ClickException(exc.message) from None

    threads = threads or app.config["BULKSMS_SETTINGS"].worker_threads
    click.echo(f"worker: sending queued campaigns with {threads} threads")
    try:
        app.extensions[EXTENSION].run_worker(threads)
    except KeyboardInterrupt:
        # Interrupted in start-up recovery, before Huey's own signal handlers:
        # its transactions roll back, and the next start recovers again.
        sys.exit(130)


main.add_command(sandbox_command)
main.add_command(db_command)
