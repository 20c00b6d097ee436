"""Registry storage: round trip, history and undo, users, WAL, export formats."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import STATION_ROWS, write_csv

from yizhan.stations import RegistryError, import_stations_file, load_stations_file
from yizhan.stations.export import export_stations

pytestmark = pytest.mark.databases         # every registry test on SQLite and on PostgreSQL


def test_round_trip_preserves_every_field(tmp_path: Path, registry) -> None:
    prepared = load_stations_file(write_csv(tmp_path / "s.csv", STATION_ROWS))
    registry.import_frame(prepared.frame, user="t")
    stored = registry.stations()
    expected = prepared.frame.sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)


def test_sqlite_is_in_wal_mode(home: Path) -> None:
    from yizhan.stations.storage import Registry

    Registry(f"sqlite:///{home / 'yizhan.sqlite'}").count()
    con = sqlite3.connect(home / "yizhan.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


def test_update_delete_and_undo(tmp_path: Path, registry) -> None:
    import_stations_file(registry, write_csv(tmp_path / "s.csv", STATION_ROWS), user="a")
    registry.update_station("T2", {"hours": "09:00-18:00"}, user="planner1", note="换班")
    assert registry.get("T2")["hours"] == "09:00-18:00"
    h = registry.history("T2")
    assert h.iloc[0]["user"] == "planner1" and h.iloc[0]["action"] == "update"
    registry.undo(int(h.iloc[0]["id"]), user="planner1")
    assert registry.get("T2")["hours"] == "24h"
    registry.delete_station("T3", user="b")
    assert registry.get("T3") is None and registry.count() == 2
    deleted = registry.history("T3").iloc[0]
    assert deleted["action"] == "delete" and json.loads(deleted["before"])["name"] == "白云物流司机之家"
    registry.undo(int(deleted["id"]), user="b")
    assert registry.get("T3")["name"] == "白云物流司机之家"
    with pytest.raises(RegistryError):
        registry.update_station("nope", {"hours": "24h"})
    with pytest.raises(RegistryError):
        registry.update_station("T1", {"colour": "red"})


def test_users_and_roles(registry) -> None:
    registry.create_user("admin1", "s3cret-pass", "admin")
    registry.create_user("tianhe", "s3cret-pass", "district", adcode="440106")
    assert registry.check_user("admin1", "s3cret-pass")["role"] == "admin"
    assert registry.check_user("admin1", "wrong-pass") is None
    assert registry.check_user("tianhe", "s3cret-pass")["adcode"] == "440106"
    users = registry.users()
    assert "password_hash" not in users.columns and len(users) == 2
    with pytest.raises(RegistryError):
        registry.create_user("admin1", "another-pass", "admin")
    with pytest.raises(RegistryError):
        registry.create_user("d2", "s3cret-pass", "district")          # no adcode
    with pytest.raises(RegistryError):
        registry.create_user("p2", "short", "planner")                 # weak password
    with pytest.raises(RegistryError):
        registry.create_user("x", "s3cret-pass", "superuser")
    # passwords are hashed, never stored as given
    with registry.engine.connect() as conn:
        stored = conn.exec_driver_sql("select password_hash from users").scalars().all()
    assert all("s3cret-pass" not in s for s in stored)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".geojson", ".gpkg"])
def test_export_and_reimport(tmp_path: Path, registry, suffix: str) -> None:
    import_stations_file(registry, write_csv(tmp_path / "s.csv", STATION_ROWS))
    out = export_stations(registry.stations(), tmp_path / f"out{suffix}")
    if suffix == ".gpkg":
        import geopandas as gpd

        gdf = gpd.read_file(out)
        assert len(gdf) == 3 and gdf.crs.to_epsg() == 4326
        np.testing.assert_allclose(sorted(gdf.geometry.x), sorted(registry.stations()["lon"]))
        return
    again = load_stations_file(out).frame.sort_values("id").reset_index(drop=True)
    before = registry.stations()
    for c in ("id", "name", "type", "groups", "services", "hours", "adcode", "status"):
        assert list(again[c]) == list(before[c]), c
    np.testing.assert_allclose(again["lon"], before["lon"])


def test_export_neutralises_formulas(tmp_path: Path, registry) -> None:
    rows = ['F1,"=HYPERLINK(""http://x"",""y"")",工会爱心驿站,@SUM(1),,,,,,113.3,23.12']
    import_stations_file(registry, write_csv(tmp_path / "s.csv", rows))
    assert registry.get("F1")["name"].startswith("=HYPERLINK")  # stored as text, unchanged
    export_stations(registry.stations(), tmp_path / "o.csv")
    text = (tmp_path / "o.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and "'@SUM(1)" in text
    export_stations(registry.stations(), tmp_path / "o.xlsx")
    import openpyxl

    ws = openpyxl.load_workbook(tmp_path / "o.xlsx").active
    values = [c.value for row in ws.iter_rows() for c in row]
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)


def test_unsupported_export_format(tmp_path: Path, registry) -> None:
    with pytest.raises(ValueError, match="unsupported export format"):
        export_stations(registry.stations(), tmp_path / "x.shp")


def test_the_version_changes_with_every_station_change_and_only_then(tmp_path: Path, registry) -> None:
    """What the web workers poll to rebuild their station index (Registry.version)."""
    seen = [registry.version()]

    def changed() -> bool:
        seen.append(registry.version())
        return seen[-1] != seen[-2] and seen[-1] not in seen[:-1]

    batch = import_stations_file(registry, write_csv(tmp_path / "s.csv", STATION_ROWS))["batch"]
    assert changed()
    registry.create_user("admin1", "s3cret-pass", "admin")
    assert not changed()                                          # accounts are not stations
    registry.update_station("T1", {"hours": "24h"})
    assert changed()
    with pytest.raises(RegistryError):
        registry.update_station("T1", {"hours": "01:00-02:00"}, expected_version=1)
    assert not changed()                                          # a refused change changes nothing
    backup = registry.backup(tmp_path / "b.sqlite")
    registry.delete_station("T2")
    assert changed()
    registry.undo(int(registry.history("T2", limit=1).iloc[0]["id"]))
    assert changed()
    assert registry.delete_stations(["T3", "nope"])["deleted"] == 1 and changed()
    assert registry.undo_batch(batch, force=True) == 3 and changed()
    registry.restore(backup)
    assert changed()                                              # the restored registry is new to every worker
    assert registry.clear_stations() == 3 and changed()
