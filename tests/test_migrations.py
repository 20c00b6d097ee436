"""Schema migrations (Alembic), on SQLite and on PostgreSQL.

* A new database is created at the newest revision and stamped; the same schema comes out of the
  revision scripts run from an empty database (compared column by column, index by index).
* A registry made by release 0.1.0 — an SQLite file (``tests/input_data/registry/release-0.1.0.sqlite``)
  and a PostgreSQL database (``release-0.1.0-postgresql.sql``, its ``pg_dump``), both written by that
  release's own code — is refused until ``yizhan db upgrade``, which upgrades it in place: every row
  of every table is still there (compared with the rows read before, through the database driver),
  every station gets version 1, and the registry then works as a new one.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import INPUT, cli_env, url_for
from sqlalchemy import create_engine, inspect, text

from yizhan.cli import main
from yizhan.stations import migrate
from yizhan.stations.storage import Registry, make_engine

pytestmark = pytest.mark.databases

LEGACY = INPUT / "registry"
TABLES = migrate.TABLES


def schema(url: str) -> dict:
    """Tables -> columns (name, type, nullable, server default), primary key, unique constraints
    and indexes, as the database reports them (SQLAlchemy inspector)."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        out = {}
        for t in sorted(insp.get_table_names()):
            out[t] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in insp.get_columns(t)],
                "pk": insp.get_pk_constraint(t)["constrained_columns"],
                "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)),
            }
        return out
    finally:
        engine.dispose()


def rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every registry table, ordered by its key, through a plain connection."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
                    for t in TABLES if t in present}
    finally:
        engine.dispose()


@pytest.fixture
def second_url(request, backend, tmp_path: Path):  # noqa: ANN001, ANN201
    """Another empty database of the same kind."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'second.sqlite'}"
        return
    server = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


def run(home: Path, database_url: str | None, *args: str):  # noqa: ANN201
    return CliRunner(env=cli_env(database_url)).invoke(main, ["--home", str(home), *args])


def test_a_new_database_is_created_at_head_and_equals_the_migrated_schema(home, database_url, second_url) -> None:
    url = url_for(database_url, home)
    reg = Registry(url)
    with reg.engine.connect() as conn:
        assert migrate.current(conn) == migrate.head() == "0004"
    reg.engine.dispose()
    # the revision scripts from an empty database: the same schema
    result = run(home, second_url, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "empty -> 0004" in result.output
    assert schema(second_url) == schema(url)
    assert run(home, second_url, "db", "upgrade").output.strip().endswith("(0004)")       # nothing left to do
    assert "0004" in run(home, second_url, "db", "current").output
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from yizhan.stations.storage import Base

    engine = make_engine(second_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
    engine.dispose()
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.connect() as conn:
            collation = conn.execute(text("select collation_name from information_schema.columns where "
                                          "table_name = 'stations' and column_name = 'id'")).scalar_one()
        engine.dispose()
        assert collation == "C"
    # an unknown (newer) revision is refused, not touched
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(migrate.SchemaError, match="9999"):
        Registry(url)
    assert run(home, database_url, "db", "upgrade").exit_code == 1


def _legacy(database_url: str | None, home: Path) -> str:
    """A registry made by release 0.1.0 at ``database_url`` (or the home's SQLite file)."""
    url = url_for(database_url, home)
    if url.startswith("sqlite"):
        shutil.copy(LEGACY / "release-0.1.0.sqlite", home / "yizhan.sqlite")
    else:
        import psycopg

        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute((LEGACY / "release-0.1.0-postgresql.sql").read_text(encoding="utf-8"))
    return url


def test_a_release_0_1_0_registry_upgrades_in_place_and_keeps_every_row(home, database_url) -> None:
    url = _legacy(database_url, home)
    before = rows(url)
    assert {t: len(r) for t, r in before.items()} == {"stations": 2, "station_history": 5, "users": 2, "proposals": 1,
                                                      "proposal_history": 2}
    old_schema = schema(url)
    assert "alembic_version" not in old_schema and "version" not in [c[0] for c in old_schema["stations"]["columns"]]
    # refused until upgraded: the app, and every command (exit 1, bilingual message naming the command)
    with pytest.raises(migrate.SchemaError) as refused:
        Registry(url)
    assert "yizhan db upgrade" in str(refused.value) and "旧版本" in str(refused.value)
    listed = run(home, database_url, "history")
    assert listed.exit_code == 1 and "yizhan db upgrade" in listed.output
    assert "0.1.0" in run(home, database_url, "db", "current").output
    assert rows(url) == before                                         # refusing changed nothing
    # a backup of the old registry can still be taken (back up first, then upgrade)
    backup = home / "before-upgrade.sqlite"
    assert run(home, database_url, "backup", str(backup)).exit_code == 0
    upgraded = run(home, database_url, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "0.1.0 -> 0004" in upgraded.output
    after = rows(url)
    # every row kept: the stations gained a version (1) and, in 0003, precision, located_status and candidate
    assert {t: r for t, r in after.items() if t != "stations" and t in before} == \
        {t: r for t, r in before.items() if t != "stations"}
    assert after["datasets"] == after["dataset_history"] == []           # 0004: new, empty tables
    assert [r[:-4] for r in after["stations"]] == before["stations"]
    assert [r[-4:] for r in after["stations"]] == [(1, "", "", "")] * 2
    assert schema(url) == schema(_fresh(home, database_url))           # the schema a new database gets
    # and it works like a new one
    reg = Registry(url)
    assert reg.check_user("admin1", "secret-pass-1")["role"] == "admin"          # old password hashes
    assert reg.get("T1")["hours"] == "07:00-22:00" and reg.get("T3") is None
    t3_delete = int(reg.history("T3", limit=1).iloc[0]["id"])
    reg.undo(t3_delete, user="after-upgrade")                          # an old history entry undone
    assert reg.get("T3")["name"] == "白云物流司机之家" and reg.get("T3").version == 3
    assert reg.update_station("T1", {"phone": "020-2"}, expected_version=1).version == 2
    assert reg.history(limit=1).iloc[0]["id"] > max(r[0] for r in before["station_history"])   # ids go on
    uid = reg.create_user("new-admin", "secret-pass-2", "admin")
    assert uid == 3
    from yizhan.stations import proposals as P

    assert P.get(reg, 1)["status"] == "已采纳" and list(P.history(reg, 1)["action"]) == ["submit", "accept"]
    reg.engine.dispose()
    # the backup taken before the upgrade restores into the upgraded registry (upgraded on the way)
    restored = run(home, database_url, "restore", str(backup), "--yes")
    assert restored.exit_code == 0, restored.output
    again = rows(url)
    assert [r[:-4] for r in again["stations"]] == before["stations"]
    assert again["users"] == before["users"] and again["station_history"] == before["station_history"]


def _fresh(home: Path, database_url: str | None) -> str:
    """A new registry of the same kind, made by this release (for its schema)."""
    if database_url is None:
        url = f"sqlite:///{home / 'fresh.sqlite'}"
    else:
        url = database_url.rsplit("/", 1)[0] + "/postgres"
        import psycopg

        name = database_url.rsplit("/", 1)[1] + "_fresh"
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = database_url + "_fresh"
    Registry(url).engine.dispose()
    return url


def test_a_release_0_1_0_sqlite_file_through_the_sqlite3_module(tmp_path: Path) -> None:
    """The fixture file is what release 0.1.0 wrote: no alembic_version, no version column, the rows
    its own API produced (read without SQLAlchemy)."""
    con = sqlite3.connect(LEGACY / "release-0.1.0.sqlite")
    try:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        assert tables == {"stations", "station_history", "users", "proposals", "proposal_history"}
        assert [r[1] for r in con.execute("PRAGMA table_info(stations)")][-1] == "orig_crs"
        assert con.execute("select group_concat(action) from (select action from station_history order by id)"
                           ).fetchone()[0] == "create,create,create,update,delete"
    finally:
        con.close()
