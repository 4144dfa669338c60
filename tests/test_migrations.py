"""The Alembic migrations build exactly the schema the models describe, the
``bulksms db`` command applies them, and an app refuses a database it may not
migrate itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from conftest import empty_postgresql
from flask import Flask
from sqlalchemy import inspect, make_url

from bulksms.cli import main
from bulksms.demo import free_port
from bulksms.migrate import db_command
from bulksms.models import Base
from bulksms.settings import SettingsError
from bulksms.store import Store, get_store

# Deselected from the SQLite pass (`make test`); `make test-scaled` runs them.
needs_postgresql = pytest.mark.postgresql


def differences(store: Store) -> list[Any]:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, Base.metadata))


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/bulksms.sqlite3"


def test_migrated_sqlite_schema_equals_the_models(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path))

    store.upgrade()

    assert differences(store) == []
    assert store.schema_is_current()
    store.dispose()


def test_upgrade_reuses_the_connection_of_an_in_memory_database() -> None:
    store = Store("sqlite://")

    store.upgrade()

    assert differences(store) == []
    store.dispose()


@pytest.mark.scaled
@needs_postgresql
def test_migrated_postgresql_schema_equals_the_models(database_url: str) -> None:
    # The fixture has emptied the database and upgraded it.
    store = Store(database_url)

    assert differences(store) == []
    assert store.schema_is_current()
    store.dispose()


def test_concurrent_upgrades_of_one_sqlite_file_all_succeed(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    stores = [Store(url) for _ in range(4)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def upgrade(store: Store) -> None:
        start.wait()
        try:
            store.upgrade()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert all(store.schema_is_current() for store in stores)
    for store in stores:
        store.dispose()


def test_db_upgrade_creates_the_tables_then_does_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    runner = CliRunner()

    first = runner.invoke(db_command, ["upgrade"], env={"DATABASE_URL": url})
    second = runner.invoke(db_command, ["upgrade"], env={"DATABASE_URL": url})
    current = runner.invoke(db_command, ["current"], env={"DATABASE_URL": url})

    store = Store(url)
    head = store.revision()
    assert store.schema_is_current()
    assert set(inspect(store.engine).get_table_names()) == (
        set(Base.metadata.tables) | {"alembic_version"}
    )
    store.dispose()
    assert first.exit_code == 0, first.output
    assert first.output == f"database schema upgraded to revision {head} (from empty)\n"
    assert second.exit_code == 0, second.output
    assert (
        second.output == f"database schema already at revision {head}; nothing to do\n"
    )
    assert current.output == f"database schema at revision {head} (current)\n"


def test_db_current_says_an_empty_database_needs_an_upgrade(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        db_command, ["current"], env={"DATABASE_URL": sqlite_url(tmp_path)}
    )

    assert result.exit_code == 0, result.output
    assert result.output == (
        "database schema empty (not current: run `bulksms db upgrade`)\n"
    )


def test_app_on_sqlite_upgrades_the_schema_at_start(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app(DATABASE_URL=sqlite_url(tmp_path))

    with app.app_context():
        assert get_store().schema_is_current()


@pytest.mark.scaled
@needs_postgresql
def test_app_on_postgresql_refuses_an_empty_schema(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    empty_postgresql(database_url)

    with pytest.raises(SettingsError, match=r"DATABASE_URL.*`bulksms db upgrade`"):
        make_app()

    store = Store(database_url)
    assert inspect(store.engine).get_table_names() == []
    store.dispose()


def db_upgrade(database_url: str) -> tuple[int, str]:
    """``bulksms db upgrade`` as an operator runs it: its exit code and output."""
    result = CliRunner().invoke(
        main, ["db", "upgrade"], env={"DATABASE_URL": database_url}
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "garbage",
            "DATABASE_URL must be a database URL such as "
            "postgresql+psycopg://user:password@host:5432/bulksms",
        ),
        (
            "mysql://x",
            "DATABASE_URL must be a sqlite:// or postgresql:// URL, got mysql://",
        ),
    ],
)
def test_db_upgrade_refuses_a_malformed_database_url_in_one_line(
    url: str, message: str
) -> None:
    exit_code, output = db_upgrade(url)

    assert exit_code == 1
    assert output == f"Error: {message}\n"


def test_db_upgrade_names_an_unreachable_database_without_its_password() -> None:
    port = free_port()

    exit_code, output = db_upgrade(
        f"postgresql+psycopg://bulksms:hunter2@127.0.0.1:{port}/bulksms"
    )

    assert exit_code == 1
    assert output.startswith(
        "Error: DATABASE_URL: cannot connect to "
        f"postgresql+psycopg://bulksms:***@127.0.0.1:{port}/bulksms: "
    )
    assert "Connection refused" in output
    assert output.count("\n") == 1


def test_db_upgrade_names_a_sqlite_file_it_cannot_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/no-such-folder/bulksms.sqlite3"

    exit_code, output = db_upgrade(url)

    assert exit_code == 1
    assert output == (
        f"Error: DATABASE_URL: cannot connect to {url}: unable to open database file\n"
    )


@pytest.mark.scaled
@needs_postgresql
def test_db_upgrade_names_a_postgresql_database_that_does_not_exist(
    database_url: str,
) -> None:
    missing = make_url(database_url).set(
        database="bulksms_no_such_database", password="hunter2"
    )

    exit_code, output = db_upgrade(missing.render_as_string(hide_password=False))

    assert exit_code == 1
    assert output.startswith(
        "Error: DATABASE_URL: cannot connect to "
        f"{missing.render_as_string(hide_password=True)}: "
    )
    assert 'database "bulksms_no_such_database" does not exist' in output
    assert "hunter2" not in output
    assert output.count("\n") == 1
