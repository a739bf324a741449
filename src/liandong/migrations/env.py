"""Alembic environment: runs on the URL given by liandong.db.alembic_config (SQLite or PostgreSQL)."""

from alembic import context

from liandong.db import get_engine
from liandong.models import metadata

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    engine = get_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # batch migrations rebuild tables (copy, drop, rename); with foreign keys on, dropping a table
            # that other rows point at fails. Off for the migration only (outside a transaction, or it is
            # ignored); the rebuilt tables keep their constraints and the check is back on afterwards.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


run_migrations_online()
