"""The store: SQLAlchemy engine and sessions, and the queries the service needs.

SQLite (WAL) in the instance folder by default, PostgreSQL by ``DATABASE_URL``.
Every state change is a conditional update on the row's current state, so two
workers can never take the same batch and a status never moves backwards, on
either database. No transaction is held open across a Plivo call.

The schema is Alembic's (``bulksms/migrations``). On SQLite the app upgrades it
at start-up; on any other database ``bulksms db upgrade`` does, once per release,
and the app refuses to start on a schema that is not current.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random

from bulksms.settings import DATABASE_URL, SettingsError, masked_url

EXTENSION = "bulksms.store"


class Store:
    """Owns the engine; hands out sessions that commit or roll back as a unit."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _create_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def check_connection(self) -> None:
        """Connect once, so that a database that is down, missing or refusing us
        stops start-up with one line naming ``DATABASE_URL``, not a traceback."""
        try:
            with self.engine.connect():
                pass
        except DBAPIError as exc:
            # The driver's message may run over several lines.
            reason = " ".join(str(exc.orig).split())
            raise SettingsError(
                f"{DATABASE_URL}: cannot connect to {masked_url(self.engine.url)}: "
                f"{reason}"
            ) from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self) -> None:
        """Migrate the schema to the newest revision; a no-op when it is there."""
        config = _alembic_config(self.url)

        # One transaction for the whole upgrade, begun before Alembic reads the
        # version: on SQLite that is BEGIN IMMEDIATE, so processes starting
        # together queue on the write lock and the later ones find it done.
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The revision the database is at, ``None`` before the first upgrade."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def schema_is_current(self) -> bool:
        head = ScriptDirectory.from_config(_alembic_config(self.url)).get_current_head()
        return self.revision() == head

    def queue_path(self, app: Flask) -> str:
        """Where the SQLite queue lives when there is no Redis: beside a SQLite
        database file, so a database and its queue always go together; else in
        the instance folder."""
        database = self.engine.url.database
        if self.is_sqlite and database and database != ":memory:":
            return os.path.splitext(database)[0] + "-queue.sqlite3"
        os.makedirs(app.instance_path, exist_ok=True)
        return os.path.join(app.instance_path, "bulksms-queue.sqlite3")

    def dispose(self) -> None:
        self.engine.dispose()


def _create_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)

    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # A deferred transaction that reads and then writes can fail at once with
        # "database is locked" when another thread writes in between; taking the
        # write lock up front makes SQLite queue writers on its busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@retry(
    retry=retry_if_exception(
        lambda exc: isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
    ),
    wait=wait_random(0.01, 0.1),
    stop=stop_after_delay(30),
    reraise=True,
)
def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    # Turning a new file to WAL takes an exclusive lock without waiting on the
    # busy timeout: processes opening a new database together would otherwise
    # fail at once with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "bulksms:migrations")
    # Config values go through ConfigParser interpolation, which would eat the
    # "%" of a percent-encoded password.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def instance_database_url(instance_path: str) -> str:
    """The SQLite file in the instance folder, used when ``DATABASE_URL`` is unset."""
    os.makedirs(instance_path, exist_ok=True)
    return "sqlite:///" + os.path.join(instance_path, "bulksms.sqlite3")


def init_app(app: Flask, url: str | None) -> Store:
    store = Store(url or instance_database_url(app.instance_path))
    store.check_connection()

    # SQLite means one machine, where no release step runs migrations. Elsewhere
    # several processes share the database, and the release step owns its schema.
    if store.is_sqlite:
        store.upgrade()
    elif not store.schema_is_current():
        store.dispose()
        raise SettingsError(
            f"the database at {DATABASE_URL} is not at the current schema; "
            "run `bulksms db upgrade` first"
        )

    app.extensions[EXTENSION] = store
    return store


def get_store() -> Store:
    store: Store = current_app.extensions[EXTENSION]
    return store
