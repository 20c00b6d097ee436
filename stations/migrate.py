"""Schema migrations of the registry database (Alembic), for SQLite and PostgreSQL alike.

* A new, empty database is created at the newest schema (``create_all``) and stamped, so a new
  home works without running anything (:func:`ensure_schema`, called by every
  :class:`~yizhan.stations.storage.Registry`).
* A database at an older schema — including one made by release 0.1.0, which has no
  ``alembic_version`` table — is refused with a bilingual message until ``yizhan db upgrade``
  (:func:`upgrade`) brings it to the newest revision in place, keeping every row.  Upgrading is a
  deliberate step (take a backup first) and never happens behind the back of several web workers.
* The revision scripts live in ``stations/migrations/versions`` (installed with the package).

A new revision for a model change::

    from alembic import command
    from yizhan.stations import migrate
    command.revision(migrate.config(url="sqlite:///dev.sqlite"), message="what changed", autogenerate=True)

(on a database at the previous head), then check and edit the generated script.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, text
from sqlalchemy.engine import Connection, Engine

from ._errors import RegistryError

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
#: The registry's own tables (alembic_version aside).
TABLES: tuple[str, ...] = ("stations", "station_history", "users", "proposals", "proposal_history", "datasets",
                           "dataset_history")
#: The PostgreSQL advisory lock key that serialises schema creation and upgrades ("yizhan" in ASCII).
LOCK_KEY = 0x79697A68616E


class SchemaError(RegistryError):
    """The database's schema is not the one this release uses (older: upgrade it; newer: refuse)."""


def config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic configuration for the packaged revision scripts (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision of the packaged scripts."""
    return ScriptDirectory.from_config(config()).get_current_head()


def revisions() -> list[str]:
    """Every known revision, oldest first."""
    return [s.revision for s in reversed(list(ScriptDirectory.from_config(config()).walk_revisions()))]


def current(conn: Connection) -> str | None:
    """The database's revision: the stamped one; ``"0.1.0"`` for a registry of that release
    (tables but no ``alembic_version``); None for an empty database."""
    rev = MigrationContext.configure(conn).get_current_revision()
    if rev is not None:
        return rev
    tables = set(inspect(conn).get_table_names())
    return "0.1.0" if tables & set(TABLES) else None


@contextlib.contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """One transaction on ``engine`` that no other process changes the schema beside: SQLite
    ``BEGIN IMMEDIATE`` (the write lock), PostgreSQL a transaction-level advisory lock."""
    if engine.dialect.name == "sqlite":
        engine = engine.execution_options(writer=True)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        yield conn


def _outdated(rev: str) -> SchemaError:
    return SchemaError(
        f"数据库结构为旧版本（{rev}），本版本需要 {head()}：请先备份（yizhan backup FILE），再运行 yizhan db upgrade / "
        f"the registry database has an older schema ({rev}); this release needs {head()}: back it up "
        f"(yizhan backup FILE), then run `yizhan db upgrade`")


def ensure_schema(engine: Engine) -> str:
    """Create the schema of an empty database at the newest revision (stamped); check that any
    other database is at the newest revision.  Returns the revision.

    Raises :class:`SchemaError` for an older schema (run ``yizhan db upgrade``) or one this release
    does not know (made by a newer release)."""
    from .storage import Base, StateRow

    newest = head()
    with engine.connect() as probe:           # the common case, without taking the write lock
        rev = current(probe)
        probe.rollback()
    if rev is None:
        with _locked(engine) as conn:
            rev = current(conn)
            if rev is None:                   # still empty: create and stamp, in one transaction
                Base.metadata.create_all(conn)
                conn.execute(insert(StateRow).values(id=1, generation=0))
                command.stamp(config(connection=conn), "head")
                return newest
    if rev == newest:
        return rev
    if rev == "0.1.0" or rev in revisions():
        raise _outdated(rev)
    raise SchemaError(f"数据库结构版本 {rev} 未知（由更新的版本创建？），请升级驿站通 / the registry database has "
                      f"schema revision {rev}, unknown to this release (made by a newer one?): upgrade yizhan")


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the database to ``revision`` (default: the newest) in place; returns (before, after).

    An empty database gets the whole schema through the revision scripts; a release-0.1.0 registry
    (no ``alembic_version``) is upgraded from the base, keeping its rows."""
    with _locked(engine) as conn:
        before = current(conn)
        if before not in (None, "0.1.0") and before not in revisions():
            raise SchemaError(f"数据库结构版本 {before} 未知，无法升级 / unknown schema revision {before}: "
                              "cannot upgrade (made by a newer release?)")
        command.upgrade(config(connection=conn), revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after or ""
