"""Data safety: an import killed mid-way changes nothing; backup and restore; undo from history."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import STATION_ROWS, write_csv

from yizhan.stations import RegistryError, import_stations_file


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


def _db_state(db: Path) -> tuple[int, int, str]:
    con = sqlite3.connect(db)
    try:
        return (con.execute("select count(*) from stations").fetchone()[0],
                con.execute("select count(*) from station_history").fetchone()[0],
                con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


@pytest.mark.slow
def test_import_killed_midway_leaves_registry_unchanged(tmp_path: Path, home: Path) -> None:
    from yizhan.stations.storage import Registry

    reg = Registry(f"sqlite:///{home / 'yizhan.sqlite'}")
    import_stations_file(reg, write_csv(tmp_path / "first.csv", STATION_ROWS))
    before = _db_state(home / "yizhan.sqlite")
    big = _big_station_file(tmp_path / "big.csv", 100_000)
    reg.engine.dispose()
    wal = home / "yizhan.sqlite-wal"
    base = wal.stat().st_size if wal.exists() else 0
    proc = subprocess.Popen([sys.executable, "-m", "yizhan.cli", "--home", str(home), "import-stations", str(big)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    killed_in_write = False
    while time.time() < deadline and proc.poll() is None:
        # the write transaction has started once the WAL grows
        if wal.exists() and wal.stat().st_size > base + 2_000_000:
            os.kill(proc.pid, signal.SIGKILL)
            killed_in_write = True
            break
        time.sleep(0.005)
    out, err = proc.communicate(timeout=60)
    assert killed_in_write, f"the import ended before it could be killed during its write: {err.decode()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    assert _db_state(home / "yizhan.sqlite") == before          # nothing of the batch is visible
    reg2 = Registry(f"sqlite:///{home / 'yizhan.sqlite'}")
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


def test_cli_backup_restore_and_undo(tmp_path: Path, home: Path) -> None:
    from click.testing import CliRunner

    from yizhan.cli import main

    run = lambda *a: CliRunner().invoke(main, ["--home", str(home), *a], catch_exceptions=False)  # noqa: E731
    assert run("import-stations", str(write_csv(tmp_path / "a.csv", STATION_ROWS))).exit_code == 0
    assert run("backup", str(tmp_path / "bk.sqlite")).exit_code == 0
    assert run("import-stations", str(write_csv(tmp_path / "b.csv", [STATION_ROWS[0].replace("T1", "T9")
                                                                      .replace("113.3245", "113.40")]))).exit_code == 0
    from yizhan.stations.storage import Registry

    reg = Registry(f"sqlite:///{home / 'yizhan.sqlite'}")
    assert reg.count() == 4
    created = reg.history("T9").iloc[0]
    assert run("undo", str(int(created["id"]))).exit_code == 0
    assert reg.get("T9") is None
    assert run("restore", str(tmp_path / "bk.sqlite"), "--yes").exit_code == 0
    assert reg.count() == 3


def test_cli_undo_refuses_a_stale_change_and_undoes_a_whole_batch(tmp_path: Path, home: Path) -> None:
    from click.testing import CliRunner

    from yizhan.cli import main
    from yizhan.stations.storage import Registry

    run = lambda *a: CliRunner().invoke(main, ["--home", str(home), *a])  # noqa: E731
    assert run("import-stations", str(write_csv(tmp_path / "a.csv", STATION_ROWS))).exit_code == 0
    reg = Registry(f"sqlite:///{home / 'yizhan.sqlite'}")
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
