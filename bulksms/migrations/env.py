"""Alembic environment for the store: online migrations only.

The database comes from the Alembic config: ``Store.upgrade`` passes its own
connection, already inside a transaction, in ``config.attributes["connection"]``;
otherwise ``sqlalchemy.url`` names it. Offline (``--sql``) scripts are not
supported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from bulksms.models import Base

target_metadata = Base.metadata


def run_migrations(
    connection: Connection, *, transactional_ddl: bool | None = None
) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transactional_ddl=transactional_ddl,
        # One set of revisions serves SQLite and PostgreSQL, and SQLite can alter
        # a table only by copying it, so autogenerate must write batch operations
        # whichever database it compared against.
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        # The store's transaction covers DDL on SQLite too, since its engine
        # issues BEGIN itself: a failed upgrade leaves nothing half done.
        run_migrations(connection, transactional_ddl=True)
        return

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("the Alembic config sets neither a connection nor a URL")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_migrations(connection)


if context.is_offline_mode():
    raise RuntimeError("bulksms migrations run online only, against a database")
run_migrations_online()
