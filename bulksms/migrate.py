"""``bulksms db``: bring the database schema up to date, or say where it is.

The release step of a deployment runs ``bulksms db upgrade``; on PostgreSQL the app
itself only checks that the schema is current. The database is the app's:
``DATABASE_URL``, or the SQLite file in the app's instance folder when it is unset.
"""

from __future__ import annotations

import os

import click
from flask import Flask

from bulksms.settings import DATABASE_URL, parse_database_url
from bulksms.store import Store, instance_database_url


@click.group("db")
def db_command() -> None:
    """Migrate the database schema (Alembic)."""


@db_command.command()
def upgrade() -> None:
    """Upgrade the schema to the newest revision."""
    store = _open_store()

    try:
        before = store.revision()
        store.upgrade()
        after = store.revision()
    finally:
        store.dispose()

    if before == after:
        click.echo(f"database schema already at revision {after}; nothing to do")
    else:
        click.echo(
            f"database schema upgraded to revision {after} (from {before or 'empty'})"
        )


@db_command.command()
def current() -> None:
    """Print the revision the database schema is at."""
    store = _open_store()

    try:
        revision = store.revision()
        is_current = store.schema_is_current()
    finally:
        store.dispose()

    where = f"at revision {revision}" if revision else "empty"
    state = "current" if is_current else "not current: run `bulksms db upgrade`"
    click.echo(f"database schema {where} ({state})")


def _open_store() -> Store:
    url = parse_database_url((os.environ.get(DATABASE_URL) or "").strip() or None)

    # Else the app's own default: an app named like the package finds the same
    # instance folder, without loading the settings the app needs to send.
    store = Store(url or instance_database_url(Flask("bulksms").instance_path))
    store.check_connection()
    return store
