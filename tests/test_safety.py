"""Data safety: an import killed mid-way changes nothing; backup and restore (SQLite and PostgreSQL,
and from one to the other); undo from history.  Every registry test runs on both databases."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import STATION_ROWS, cli_env, url_for, write_csv
from sqlalchemy import create_engine, text

from yizhan.stations import RegistryError, import_stations_file

pytestmark = pytest.mark.databases

def _big_station_file(path: Path, n: int) -> Path:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({
        "编号": [f"K{i:06d}" for i in range(n)], "名称": [f"批量站{i}" for i in range(n)], "类型": "工会爱心驿站",
        # a 0.003° lattice with jitter on land north of Guangzhou: no two stations metres apart
        "经度": 112.5 + (np.arange(n) % 500) * 0.003 + rng.uniform(0, 0.001, n),
        "纬度": 23.2 + (np.arange(n) // 500) * 0.003 + rng.uniform(0, 0.001, n),
        "开放时间": "08:00-20:00",
    })
    frame.to_csv(path, index=False)
    return path


def _db_state(url: str) -> tuple[int, int, str]:
    """Stations, history rows and the integrity check, read through a fresh connection."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ok = conn.execute(text("PRAGMA integrity_check")).scalar_one() if url.startswith("sqlite") else "ok"
            return (conn.execute(text("select count(*) from stations")).scalar_one(),
                    conn.execute(text("select count(*) from station_history")).scalar_one(), ok)
    finally:
        engine.dispose()


def _writing(url: str, home: Path, base: int):  # noqa: ANN202
    """A probe: True once the import's write transaction has visibly started (SQLite: the WAL grew
    by 2 MB; PostgreSQL: another session of the database is inside a transaction that inserts stations)."""
    if url.startswith("sqlite"):
        wal = home / "yizhan.sqlite-wal"
        return lambda: wal.exists() and wal.stat().st_size > base + 2_000_000
    engine = create_engine(url)
    sql = text("select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() "
               "and state in ('active', 'idle in transaction') and query ilike 'insert into stations%'")

    def probe() -> bool:
        with engine.connect() as conn:
            return conn.execute(sql).scalar_one() > 0
    probe.engine = engine
    return probe


def _sessions_gone(url: str) -> None:
    """Wait (bounded) until no other session uses the database: PostgreSQL rolls a dead client's
    transaction back when it notices the closed connection."""
    if url.startswith("sqlite"):
        return
    engine = create_engine(url)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with engine.connect() as conn:
                if not conn.execute(text("select count(*) from pg_stat_activity where datname = current_database() "
                                         "and pid <> pg_backend_pid()")).scalar_one():
                    return
            time.sleep(0.05)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_import_killed_midway_leaves_registry_unchanged(tmp_path: Path, home: Path, database_url) -> None:
    from yizhan.stations.storage import Registry

    url = url_for(database_url, home)
    reg = Registry(url)
    import_stations_file(reg, write_csv(tmp_path / "first.csv", STATION_ROWS))
    before = _db_state(url)
    big = _big_station_file(tmp_path / "big.csv", 100_000)
    reg.engine.dispose()
    wal = home / "yizhan.sqlite-wal"
    writing = _writing(url, home, wal.stat().st_size if wal.exists() else 0)
    proc = subprocess.Popen([sys.executable, "-m", "yizhan.cli", "--home", str(home), "import-stations", str(big)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **cli_env(database_url)})
    deadline = time.time() + 300
    killed_in_write = False
    while time.time() < deadline and proc.poll() is None:
        if writing():                 # the write transaction has started
            os.kill(proc.pid, signal.SIGKILL)
            killed_in_write = True
            break
        time.sleep(0.005)
    out, err = proc.communicate(timeout=60)
    if hasattr(writing, "engine"):
        writing.engine.dispose()
    assert killed_in_write, f"the import ended before it could be killed during its write: {err.decode()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    _sessions_gone(url)
    assert _db_state(url) == before          # nothing of the batch is visible
    reg2 = Registry(url)
    assert reg2.count() == 3 and sorted(reg2.stations()["id"]) == ["T1", "T2", "T3"]
    # and the registry still works: the same import completes afterwards
    assert import_stations_file(reg2, big)["created"] == 100_000


def test_backup_and_restore(tmp_path: Path, registry) -> None:
    import_stations_file(registry, write_csv(tmp_path / "a.csv", STATION_ROWS))
    registry.create_user("boss", "a-long-password", "admin")
    backup = registry.backup(tmp_path / "b" / "backup.sqlite")
    registry.delete_station("T1", user="oops")
    registry.update_station("T2", {"hours": "09:00-10:00"})
    counts = registry.restore(backup)
    assert counts == {"stations": 3, "users": 1}
    assert registry.get("T1") is not None and registry.get("T2")["hours"] == "24h"
    assert registry.check_user("boss", "a-long-password")
    # the backup is one SQLite file at this release's schema, whatever the registry's database
    con = sqlite3.connect(backup)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        from yizhan.stations import migrate

        assert con.execute("select version_num from alembic_version").fetchone()[0] == migrate.head() == "0004"
        assert con.execute("select count(*) from station_history").fetchone()[0] == 3
    finally:
        con.close()
    # ids go on after the restored ones (PostgreSQL: the sequences were moved)
    assert registry.create_user("boss2", "a-long-password", "admin") == 2
    registry.update_station("T3", {"hours": "24h"})
    assert int(registry.history(limit=1).iloc[0]["id"]) == 4


def _all_rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every registry table through a plain connection; times as SQLite stores them
    (text), so that rows of both databases compare."""
    from datetime import datetime

    from yizhan.stations.migrate import TABLES

    def plain(v: object) -> object:
        return v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: [tuple(plain(v) for v in r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
                    for t in TABLES}
    finally:
        engine.dispose()


def test_backup_moves_a_registry_from_sqlite_to_postgresql_and_back(tmp_path: Path, home: Path, postgres) -> None:
    """The backup file is the same format for both databases: SQLite -> PostgreSQL -> SQLite keeps
    every row of every table (stations with their versions, history, accounts, proposals)."""
    from yizhan.stations import proposals as P
    from yizhan.stations.storage import Registry

    source = Registry(f"sqlite:///{home / 'yizhan.sqlite'}")
    import_stations_file(source, write_csv(tmp_path / "a.csv", STATION_ROWS), user="seed")
    source.update_station("T1", {"hours": "24h"}, user="p")
    source.delete_station("T3", user="p")
    source.create_user("boss", "a-long-password", "admin")
    prop = P.submit(source, {"username": "boss", "role": "admin", "adcode": ""}, lon=113.3300, lat=23.1300,
                    name="天河驿站", type="工会爱心驿站", impact={"new_demand": 1.5})
    P.review(source, {"username": "boss", "role": "admin", "adcode": ""}, prop["id"], accept=True)
    expected = _all_rows(source.url)
    file = source.backup(tmp_path / "move.sqlite")
    pg_url = postgres.create_database()
    try:
        target = Registry(pg_url)
        assert target.restore(file) == {"stations": 2, "users": 1}
        assert _all_rows(pg_url) == expected
        assert target.get("T1").version == 2 and target.check_user("boss", "a-long-password")
        back = target.backup(tmp_path / "back.sqlite")
        target.engine.dispose()
        again = Registry(f"sqlite:///{tmp_path / 'again.sqlite'}")
        again.restore(back)
        assert _all_rows(again.url) == expected
    finally:
        postgres.drop_database(pg_url)


def test_a_backup_taken_during_writes_is_one_consistent_snapshot(tmp_path: Path, registry) -> None:
    """While a writer keeps changing stations, the backup's stations and history agree: each
    station's version is one more than the updates recorded for it (the tables were read at one
    moment, not one after the other)."""
    rows = [f"W{i:04d},站{i},工会爱心驿站,,,,,,在运营,{112.5 + (i % 50) * 0.003:.4f},{23.2 + (i // 50) * 0.003:.4f}"
            for i in range(1000)]
    import_stations_file(registry, write_csv(tmp_path / "w.csv", rows))
    done = threading.Event()
    writes = []

    def writer() -> None:
        k = 0
        while not done.is_set() and k < 5000:
            registry.update_station(f"W{k % 1000:04d}", {"capacity": k}, user="writer")
            writes.append(k)
            k += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(writes) < 20:                      # the writer is under way
            time.sleep(0.01)
        backups = [registry.backup(tmp_path / f"b{i}.sqlite") for i in range(3)]
    finally:
        done.set()
        thread.join(120)
    for file in backups:
        con = sqlite3.connect(file)
        try:
            versions = dict(con.execute("select id, version from stations"))
            updates = dict(con.execute("select station_id, count(*) from station_history where action = 'update' "
                                       "group by station_id"))
        finally:
            con.close()
        assert len(versions) == 1000 and sum(updates.values()) >= 20        # taken while the writer wrote
        assert all(v == 1 + updates.get(sid, 0) for sid, v in versions.items())


def test_restore_rejects_damaged_backup_and_keeps_data(tmp_path: Path, registry) -> None:
    import_stations_file(registry, write_csv(tmp_path / "a.csv", STATION_ROWS))
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("create table t(x)").connection.commit()
    for bad in (junk, other, tmp_path / "missing.sqlite"):
        with pytest.raises(RegistryError):
            registry.restore(bad)
        assert registry.count() == 3


def test_cli_backup_restore_and_undo(tmp_path: Path, home: Path, database_url) -> None:
    from click.testing import CliRunner

    from yizhan.cli import main

    run = lambda *a: CliRunner(env=cli_env(database_url)).invoke(  # noqa: E731
        main, ["--home", str(home), *a], catch_exceptions=False)
    assert run("import-stations", str(write_csv(tmp_path / "a.csv", STATION_ROWS))).exit_code == 0
    assert run("backup", str(tmp_path / "bk.sqlite")).exit_code == 0
    assert run("import-stations", str(write_csv(tmp_path / "b.csv", [STATION_ROWS[0].replace("T1", "T9")
                                                                      .replace("113.3245", "113.40")]))).exit_code == 0
    from yizhan.stations.storage import Registry

    reg = Registry(url_for(database_url, home))
    assert reg.count() == 4
    created = reg.history("T9").iloc[0]
    assert run("undo", str(int(created["id"]))).exit_code == 0
    assert reg.get("T9") is None
    assert run("restore", str(tmp_path / "bk.sqlite"), "--yes").exit_code == 0
    assert reg.count() == 3


def test_cli_undo_refuses_a_stale_change_and_undoes_a_whole_batch(tmp_path: Path, home: Path, database_url) -> None:
    from click.testing import CliRunner

    from yizhan.cli import main
    from yizhan.stations.storage import Registry

    run = lambda *a: CliRunner(env=cli_env(database_url)).invoke(main, ["--home", str(home), *a])  # noqa: E731
    assert run("import-stations", str(write_csv(tmp_path / "a.csv", STATION_ROWS))).exit_code == 0
    reg = Registry(url_for(database_url, home))
    start = reg.stations()
    reg.update_station("T1", {"hours": "24h"}, user="a")
    reg.update_station("T1", {"phone": "020-1"}, user="b")
    older = int(reg.history("T1").iloc[1]["id"])
    stale = run("undo", str(older))
    assert stale.exit_code == 2 and "changed after" in stale.output and reg.get("T1")["phone"] == "020-1"
    assert run("undo", str(older), "--force").exit_code == 0
    assert reg.get("T1")["hours"] == "08:00-20:00"
    assert reg.get("T1")["phone"] == "020-12345678"          # the whole row as it was before that change
    listed = run("history", "--limit", "100").output
    batch = next(line.split("batch=")[1] for line in listed.splitlines() if " create T2 " in line)
    reg.update_station("T1", {"phone": "020-9"})
    assert run("undo", "--batch", batch).exit_code == 2         # T1 changed after the import
    assert reg.count() == 3
    assert run("undo", "--batch", batch, "--force").exit_code == 0
    assert reg.count() == 0
    assert run("undo").exit_code == 2 and run("undo", "1", "--batch", batch).exit_code == 2
    assert len(start) == 3
