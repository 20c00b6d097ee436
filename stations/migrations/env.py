"""Alembic environment: run the revision scripts on the connection :mod:`yizhan.stations.migrate`
hands over (``config.attributes["connection"]``), or on an engine for ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context

from yizhan.stations.storage import Base, make_engine

config = context.config


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        try:
            with engine.connect() as conn:
                _run(conn)
                conn.commit()
        finally:
            engine.dispose()
