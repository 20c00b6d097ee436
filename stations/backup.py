"""Backup and restore of the registry database: one portable format, an SQLite file, for both backends.

* **SQLite registry**: SQLite's online backup API copies the live file page by page (readers and
  writers may go on meanwhile).
* **PostgreSQL registry**: a logical copy through SQLAlchemy: every registry table is read in one
  ``REPEATABLE READ`` transaction (one consistent snapshot; the app keeps serving) and written to a
  new SQLite file built by the migrations at the database's own schema revision.  No ``pg_dump``
  is needed (no client/server version pairing); for point-in-time recovery of a large deployment
  use PostgreSQL's own tools as well (``pg_dump``/``pg_basebackup``).

A restore checks the file (SQLite integrity check, registry tables), upgrades a copy of it to the
newest schema (so a backup made by an older release restores too), then replaces the registry's
contents in one step: SQLite by the backup API, PostgreSQL in one transaction (tables locked,
emptied, filled, id sequences moved past the restored ids) — a failure half-way leaves the registry
as it was.  Because the format is shared, ``backup`` on an SQLite home and ``restore`` with a
PostgreSQL ``DATABASE_URL`` moves a registry from SQLite to PostgreSQL (and back).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, column, func, insert, select, table, text
from sqlalchemy.engine import Engine

from . import migrate
from ._errors import RegistryError

log = logging.getLogger(__name__)

_CHUNK = 5000


def _counts(conn: Any) -> dict[str, int]:
    return {name: int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())
            for name in ("stations", "users")}


def backup(engine: Engine, path: str | Path) -> dict[str, Any]:
    """Write a consistent copy of the registry behind ``engine`` to the SQLite file ``path``
    (replaced if it exists; written beside it first, then renamed).  Works at any schema revision
    (back up before ``yizhan db upgrade``).  Returns ``path``, ``revision``, ``stations``, ``users``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        if engine.dialect.name == "sqlite":
            info = _backup_sqlite(engine, tmp)
        elif engine.dialect.name == "postgresql":
            info = _backup_logical(engine, tmp)
        else:
            raise RegistryError(f"不支持备份该数据库（{engine.dialect.name}）/ backup supports SQLite and PostgreSQL only")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"path": target, **info}


def _backup_sqlite(engine: Engine, tmp: Path) -> dict[str, Any]:
    raw = engine.raw_connection()
    try:
        dst = sqlite3.connect(tmp)
        try:
            raw.driver_connection.backup(dst)
        finally:
            dst.close()
    finally:
        raw.close()
    return _describe(tmp)


def _backup_logical(engine: Engine, tmp: Path) -> dict[str, Any]:
    from .storage import make_engine

    dst_engine = make_engine(f"sqlite:///{tmp}")
    try:
        with engine.connect() as src_conn:
            src = src_conn.execution_options(isolation_level="REPEATABLE READ")
            with src.begin():
                rev = migrate.current(src)
                # the copy gets the schema of the source's revision (the release-0.1.0 tables: 0001)
                migrate.upgrade(dst_engine, {None: "head", "0.1.0": "0001"}.get(rev, rev))
                if rev in (None, "0.1.0"):
                    with dst_engine.begin() as d:
                        d.execute(text("DELETE FROM alembic_version"))   # the copy is as unstamped as the source
                present = set(_table_names(src))
                meta = MetaData()
                meta.reflect(dst_engine)
                with dst_engine.execution_options(writer=True).begin() as dst:
                    for name in migrate.TABLES:
                        if name not in present or name not in meta.tables:
                            continue
                        target = meta.tables[name]
                        cols = [c.name for c in target.columns]
                        result = src.execution_options(yield_per=_CHUNK).execute(
                            select(*[column(c) for c in cols]).select_from(table(name)))
                        for part in result.partitions():
                            dst.execute(insert(target), [dict(zip(cols, row)) for row in part])
                    counts = _counts(dst)
    finally:
        dst_engine.dispose()
    return {"revision": rev, **counts}


def _generation(engine: Engine) -> int:
    """The live registry's generation (0 when it has none yet)."""
    from sqlalchemy import inspect

    with engine.connect() as conn:
        if "registry_state" not in inspect(conn).get_table_names():
            return 0
        return int(conn.execute(text("SELECT generation FROM registry_state WHERE id = 1")).scalar() or 0)


def _table_names(conn: Any) -> list[str]:
    from sqlalchemy import inspect

    return inspect(conn).get_table_names()


def _describe(file: Path) -> dict[str, Any]:
    con = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        rev = con.execute("select version_num from alembic_version").fetchone() if "alembic_version" in tables else None
        return {"revision": rev[0] if rev else ("0.1.0" if "stations" in tables else None),
                "stations": con.execute("select count(*) from stations").fetchone()[0] if "stations" in tables else 0,
                "users": con.execute("select count(*) from users").fetchone()[0] if "users" in tables else 0}
    finally:
        con.close()


def _checked_copy(source: Path, folder: Path) -> Path:
    """A copy of the backup ``source`` in ``folder``, checked and upgraded to the newest schema."""
    from .storage import make_engine

    if not source.is_file():
        raise RegistryError(f"找不到备份文件 / backup not found: {source}")
    copy = folder / "restore.sqlite"
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            ok = src.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in src.execute("select name from sqlite_master where type='table'")}
            if ok != "ok" or not {"stations", "station_history", "users"} <= tables:
                raise RegistryError("备份文件损坏或不是驿站通数据库 / the backup is damaged or not a yizhan registry")
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        raise RegistryError(f"备份文件无法读取 / cannot read the backup: {exc}") from exc
    engine = make_engine(f"sqlite:///{copy}")
    try:
        migrate.upgrade(engine)        # a backup of an older release: brought to this release's schema
    finally:
        engine.dispose()
    con = sqlite3.connect(copy)
    try:
        con.execute("PRAGMA journal_mode=DELETE")          # one self-contained file to copy from
    finally:
        con.close()
    return copy


def restore(engine: Engine, path: str | Path, *, user: str = "") -> dict[str, int]:
    """Replace the contents of the registry behind ``engine`` with the backup ``path`` (checked
    and upgraded first; see the module docstring).  Returns the station and user counts restored."""
    with tempfile.TemporaryDirectory(prefix="yizhan-restore-") as folder:
        copy = _checked_copy(Path(path), Path(folder))
        info = _describe(copy)
        counts = {"stations": int(info["stations"]), "users": int(info["users"])}
        if engine.dialect.name == "sqlite":
            before = _generation(engine)
            src = sqlite3.connect(copy)
            try:
                engine.dispose()
                raw = engine.raw_connection()
                try:
                    src.backup(raw.driver_connection)
                finally:
                    raw.close()
            finally:
                src.close()
            engine.dispose()
            # a generation the running web workers have not seen: they rebuild their station index
            with engine.execution_options(writer=True).begin() as conn:
                conn.execute(text("UPDATE registry_state SET generation = MAX(generation, :g) + 1"), {"g": before})
        elif engine.dialect.name == "postgresql":
            _restore_logical(engine, copy)
        else:
            raise RegistryError(f"不支持恢复到该数据库（{engine.dialect.name}）/ restore supports SQLite and PostgreSQL only")
    log.info("registry restored from %s by %s", path, user or "-")
    return counts


def _restore_logical(engine: Engine, copy: Path) -> None:
    from .storage import Base, guarded, make_engine

    migrate.ensure_schema(engine)                   # empty: created; older: refused (upgrade first)
    src_engine = make_engine(f"sqlite:///{copy}")
    tables = [Base.metadata.tables[name] for name in migrate.TABLES]
    try:
        with src_engine.connect() as src, guarded(), engine.begin() as dst:
            dst.execute(text("LOCK TABLE " + ", ".join(t.name for t in tables) + " IN ACCESS EXCLUSIVE MODE"))
            for t in reversed(tables):
                dst.execute(t.delete())
            for t in tables:
                result = src.execution_options(yield_per=_CHUNK).execute(select(t))
                cols = [c.name for c in t.columns]
                for part in result.partitions():
                    dst.execute(insert(t), [dict(zip(cols, row)) for row in part])
                if t.name != "stations":          # integer ids from a sequence: continue after the restored ones
                    dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "
                                     f"COALESCE((SELECT MAX(id) FROM {t.name}), 0) + 1, false)"))
            dst.execute(text("UPDATE registry_state SET generation = generation + 1"))   # workers rebuild their index
    finally:
        src_engine.dispose()
