"""Hotspot datasets (issue 13, the backend): the store, the CLI, --dataset on analyze and site, and the
streaming import of a large file in bounded memory.

The stored rows are compared with what :func:`read_hotspots` returns for the same file (an independent
reader: the whole file at once), coordinates converted from GCJ-02/BD-09 with :mod:`yizhan.geodata.crs`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import cli_env

from yizhan.cli import main
from yizhan.coverage import datasets as D
from yizhan.coverage import read_hotspots
from yizhan.coverage.datasets import DatasetNotFound, DatasetStore
from yizhan.geodata import crs as crs_mod
from yizhan.samples.guangzhou import generate_hotspots
from yizhan.stations import ImportValidationError, RegistryError


def hotspot_csv(path: Path, n: int = 3000, *, encoding: str = "utf-8") -> Path:
    """A hotspot CSV of the Guangzhou sample generator (lon, lat, weight, time, group)."""
    frame = generate_hotspots(n)[["lon", "lat", "weight", "time", "group"]]
    path.write_bytes(frame.to_csv(index=False, float_format="%.6f").encode(encoding))
    return path


def stored_files(home: Path) -> list[str]:
    folder = home / "datasets"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# -- the store ----------------------------------------------------------------------------------------
@pytest.mark.databases
def test_store_add_list_rename_remove_with_history(registry, home: Path, tmp_path: Path) -> None:
    store = DatasetStore(registry, home)
    src = hotspot_csv(tmp_path / "orders.csv", 500)
    assert store.list() == [] and store.newest() is None
    first = store.add(src, name="  2026年10月 平台订单 ", crs="wgs84", user="planner1")
    assert first["name"] == "2026年10月 平台订单" and first["rows"] == 500 and first["skipped"] == 0
    assert first["kind"] == "points" and first["source_name"] == "orders.csv" and first["created_by"] == "planner1"
    assert first["bytes"] == src.stat().st_size and first["problems"] == []
    assert store.path(first["id"]).is_file() and stored_files(home) == [f"{first['id']}.parquet"]
    import hashlib

    assert first["sha256"] == hashlib.sha256(store.path(first["id"]).read_bytes()).hexdigest()
    second = store.add(src, name="2026年11月 平台订单", user="planner2")
    assert second["id"] > first["id"]
    listed = store.list()
    assert [d["id"] for d in listed] == [second["id"], first["id"]]                 # newest first
    assert {"id", "name", "rows", "created_at"} <= set(listed[0]) and "problems" not in listed[0]
    assert datetime.fromisoformat(listed[0]["created_at"].replace("Z", "+00:00")).tzinfo is not None
    assert store.newest()["id"] == second["id"] and store.get(first["id"])["name"] == "2026年10月 平台订单"
    # names are unique (also on rename); bad names refused
    with pytest.raises(RegistryError, match="同名"):
        store.add(src, name="2026年10月 平台订单")
    with pytest.raises(RegistryError, match="同名"):
        store.rename(second["id"], "2026年10月 平台订单")
    for bad in ("", "   ", "a\nb", "x" * 201):
        with pytest.raises(RegistryError):
            store.add(src, name=bad)
    assert len(store.list()) == 2 and len(stored_files(home)) == 2
    renamed = store.rename(first["id"], "十月订单", user="admin")
    assert renamed["name"] == "十月订单" and store.get(first["id"])["name"] == "十月订单"
    # remove: row and file gone; ids are never reused
    removed = store.remove(second["id"], user="admin")
    assert removed["name"] == "2026年11月 平台订单"
    assert store.get(second["id"]) is None and not store.path(second["id"]).exists()
    third = store.add(src, name="again", user="planner1")
    assert third["id"] > second["id"]
    with pytest.raises(DatasetNotFound):
        store.remove(second["id"])
    with pytest.raises(DatasetNotFound):
        store.rename(12345, "x")
    with pytest.raises(DatasetNotFound):
        store.hotspots("not-a-number")
    history = store.history()
    assert [(h["action"], h["dataset_id"], h["user"]) for h in history] == [
        ("add", third["id"], "planner1"), ("remove", second["id"], "admin"), ("rename", first["id"], "admin"),
        ("add", second["id"], "planner2"), ("add", first["id"], "planner1")]
    assert history[2]["before"]["name"] == "2026年10月 平台订单" and history[2]["after"]["name"] == "十月订单"
    assert history[1]["before"]["name"] == "2026年11月 平台订单" and history[1]["after"] is None
    assert [h["action"] for h in store.history(first["id"])] == ["rename", "add"]


def test_stored_rows_equal_read_hotspots(registry, home: Path, tmp_path: Path, monkeypatch) -> None:
    """CSV (cut into many small runs), GBK CSV, UTF-16 CSV and Parquet (many batches): the stored
    frame equals what read_hotspots returns for the same (UTF-8) file."""
    store = DatasetStore(registry, home)
    src = hotspot_csv(tmp_path / "h.csv", 4000)
    expected = read_hotspots(src)
    assert expected["hour"].ge(0).all() and (expected["group"] != "").all()
    monkeypatch.setattr(D, "CSV_BLOCK_BYTES", 8192)            # ~50 runs of whole records
    monkeypatch.setattr(D, "CHUNK_ROWS", 700)                  # Parquet in 6 batches
    text = src.read_text(encoding="utf-8")
    files = {"utf8": src,
             "gbk": tmp_path / "gbk.csv", "utf16": tmp_path / "utf16.csv", "crlf": tmp_path / "crlf.csv"}
    files["gbk"].write_bytes(text.encode("gbk"))
    files["utf16"].write_bytes(text.encode("utf-16"))
    files["crlf"].write_bytes(text.replace("\n", "\r\n").encode("utf-8-sig"))
    pd.read_csv(src).to_parquet(tmp_path / "h.parquet", row_group_size=1500)
    files["parquet"] = tmp_path / "h.parquet"
    for label, path in files.items():
        record = store.add(path, name=label)
        stored = store.hotspots(record["id"])
        pd.testing.assert_frame_equal(stored, expected, obj=label)
        if label != "parquet":            # the whole-file reader decodes them alike (GBK once came out as bytes)
            pd.testing.assert_frame_equal(read_hotspots(path), expected, obj=label)
        assert stored.attrs["n_rows"] == 4000 and record["rows"] == 4000
    demand = store.demand(record["id"], 9)
    assert demand.table["demand"].sum() == pytest.approx(expected["weight"].sum())


def test_aggregated_h3_input(registry, home: Path, tmp_path: Path) -> None:
    from yizhan.coverage import aggregate, hexgrid

    grid = aggregate(read_hotspots(hotspot_csv(tmp_path / "h.csv", 2000)), 9)
    cells = pd.DataFrame({"h3": [format(int(c), "x") for c in grid.table["cell"]], "weight": grid.table["demand"],
                          "group": grid.table["group"].astype(str)})
    cells.to_csv(tmp_path / "cells.csv", index=False)
    store = DatasetStore(registry, home)
    record = store.add(tmp_path / "cells.csv", name="cells")
    assert record["kind"] == "cells" and record["rows"] == len(cells)
    pd.testing.assert_frame_equal(store.hotspots(record["id"]), read_hotspots(tmp_path / "cells.csv"))
    assert hexgrid.cell_resolution(store.hotspots(record["id"])["h3"].to_numpy()).tolist() == [9] * len(cells)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_gcj02_and_bd09_files_are_stored_in_wgs84(registry, home: Path, tmp_path: Path, system: str) -> None:
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(113.2, 113.5, 300), rng.uniform(23.0, 23.3, 300)
    plon, plat = crs_mod.from_wgs84(lon, lat, system)
    path = tmp_path / f"{system}.csv"
    pd.DataFrame({"经度": np.round(plon, 7), "纬度": np.round(plat, 7)}).to_csv(path, index=False)
    record = DatasetStore(registry, home).add(path, name=system, crs=system)
    assert record["crs"] == system
    stored = DatasetStore(registry, home).hotspots(record["id"])
    back = pd.read_csv(path)
    convert = crs_mod.gcj02_to_wgs84 if system == "gcj02" else crs_mod.bd09_to_wgs84
    wlon, wlat = convert(back["经度"].to_numpy(), back["纬度"].to_numpy())
    np.testing.assert_allclose(stored["lon"], wlon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(stored["lat"], wlat, rtol=0, atol=1e-9)
    assert np.abs(stored["lon"] - lon).max() < 1e-5                      # the original points, ~1 m
    assert (stored["weight"] == 1).all() and (stored["hour"] == -1).all()


def _with_bad_rows(tmp_path: Path) -> Path:
    """3000 good rows with three bad ones: a point outside China (row 6), a row with a column too
    many (row 1201), a latitude that is not a number (row 2801, after the malformed row)."""
    lines = hotspot_csv(tmp_path / "good.csv").read_text(encoding="utf-8").splitlines()
    lines[5] = "999,23.1,1,,"
    lines[1200] = "113.3,23.1,1,,,extra"
    lines[2800] = "113.3,abc,1,,外卖配送员"
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_all_or_nothing_and_skipping(registry, home: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(D, "CSV_BLOCK_BYTES", 16384)            # the bad rows in different runs
    store = DatasetStore(registry, home)
    bad = _with_bad_rows(tmp_path)
    with pytest.raises(ImportValidationError) as refused:
        store.add(bad, name="bad")
    where = sorted((p.row, p.column, p.code) for p in refused.value.problems)
    assert where == [(6, "lon", "outside_china"), (1201, None, "malformed"), (2801, "lat", "bad_coord")]
    report = refused.value.report()
    assert "第 2801 行" in report and "row 2801" in report and "未写入" in report and "nothing was written" in report
    assert store.list() == [] and store.history() == [] and stored_files(home) == []      # nothing kept
    kept = store.add(bad, name="skipped", skip_bad_rows=True)
    assert (kept["rows"], kept["skipped"]) == (2997, 3)
    assert sorted(p.row for p in kept["problems"]) == [6, 1201, 2801]
    assert len(store.hotspots(kept["id"])) == 2997 and stored_files(home) == [f"{kept['id']}.parquet"]
    # a file of bad rows only is refused even when skipping
    (tmp_path / "allbad.csv").write_text("lon,lat\n999,1\n", encoding="utf-8")
    with pytest.raises(ImportValidationError, match="no rows are left"):
        store.add(tmp_path / "allbad.csv", name="all bad", skip_bad_rows=True)
    # whole-file problems
    (tmp_path / "nocoords.csv").write_text("名称,weight\na,1\n", encoding="utf-8")
    (tmp_path / "header.csv").write_text("lon,lat\n", encoding="utf-8")
    (tmp_path / "empty.csv").write_bytes(b"")
    for name, message in (("nocoords.csv", "missing columns"), ("header.csv", "no data rows"),
                          ("empty.csv", "empty"), ("missing.csv", "not found")):
        with pytest.raises(ImportValidationError, match=message):
            store.add(tmp_path / name, name=name)
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes((tmp_path / "good.csv").read_bytes() + "113.3,23.1,1,,外卖配送员\n".encode("gbk"))
    with pytest.raises(ImportValidationError, match="UTF-8"):
        store.add(mixed, name="mixed")
    assert [d["name"] for d in store.list()] == ["skipped"] and len(stored_files(home)) == 1


def test_size_limits(registry, home: Path, tmp_path: Path, monkeypatch) -> None:
    import io

    src = hotspot_csv(tmp_path / "h.csv", 200)
    small = DatasetStore(registry, home, max_bytes=1000)
    with pytest.raises(ImportValidationError, match="DATASET_MAX_BYTES"):
        small.add(src, name="too big")
    with pytest.raises(ImportValidationError, match="too large"):
        small.add_stream(io.BytesIO(src.read_bytes()), filename="h.csv", name="too big")
    assert stored_files(home) == []
    store = DatasetStore(registry, home)
    record = store.add_stream(io.BytesIO(src.read_bytes()), filename="上传.csv", name="upload", user="web")
    assert record["source_name"] == "上传.csv" and record["rows"] == 200
    assert stored_files(home) == [f"{record['id']}.parquet"]                  # the upload's copy is gone
    # XLSX/GeoJSON are read whole: a smaller limit
    pd.read_csv(src, dtype=str).to_excel(tmp_path / "h.xlsx", index=False)
    monkeypatch.setattr(D, "WHOLE_FILE_MAX_BYTES", 1000)
    with pytest.raises(ImportValidationError, match="CSV or Parquet"):
        store.add(tmp_path / "h.xlsx", name="xlsx")
    monkeypatch.undo()
    xlsx = store.add(tmp_path / "h.xlsx", name="xlsx")
    pd.testing.assert_frame_equal(store.hotspots(xlsx["id"]), read_hotspots(tmp_path / "h.xlsx"))
    # the setting's default
    from yizhan.config import load_config

    assert load_config(home)["DATASET_MAX_BYTES"] == 500 * 1024 * 1024 == D.DEFAULT_MAX_BYTES


# -- the command line ---------------------------------------------------------------------------------
@pytest.fixture
def run(home: Path):
    runner = CliRunner()

    def _run(*args: str):
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    return _run


@pytest.mark.databases
def test_cli_datasets_add_list_rename_remove(home: Path, tmp_path: Path, database_url) -> None:
    runner = CliRunner(env=cli_env(database_url))

    def run(*args: str):
        return runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)

    src = hotspot_csv(tmp_path / "orders.csv", 300)
    assert json.loads(run("datasets", "list", "--json").stdout) == []
    added = run("datasets", "add", str(src), "--name", "2026年10月 平台订单", "--json")
    assert added.exit_code == 0, added.output
    record = json.loads(added.stdout)
    assert record["name"] == "2026年10月 平台订单" and record["rows"] == 300
    plain = run("datasets", "add", str(src), "--name", "second", "--crs", "wgs84")
    assert plain.exit_code == 0 and "second" in plain.stdout and "300" in plain.stdout
    listed = json.loads(run("datasets", "list", "--json").stdout)
    assert [d["name"] for d in listed] == ["second", "2026年10月 平台订单"]
    for d in listed:
        assert isinstance(d["id"], int) and isinstance(d["rows"], int) and d["rows"] == 300
        datetime.fromisoformat(d["created_at"].replace("Z", "+00:00"))
    assert "2026年10月 平台订单" in run("datasets", "list").stdout
    dup = run("datasets", "add", str(src), "--name", "second")
    assert dup.exit_code == 2 and "second" in dup.output
    renamed = run("datasets", "rename", str(record["id"]), "十月")
    assert renamed.exit_code == 0, renamed.output
    removed = run("datasets", "remove", str(listed[0]["id"]))
    assert removed.exit_code == 0, removed.output
    assert [(d["id"], d["name"]) for d in json.loads(run("datasets", "list", "--json").stdout)] == [(record["id"], "十月")]
    again = run("datasets", "remove", str(listed[0]["id"]))
    assert again.exit_code == 2 and "no such hotspot dataset" in again.output
    assert run("datasets", "--help").exit_code == 0
    for name in ("add", "list", "rename", "remove"):
        assert run("datasets", name, "--help").exit_code == 0


def test_cli_bad_row_exit_2_and_skip(run, home: Path, tmp_path: Path) -> None:
    bad = _with_bad_rows(tmp_path)
    refused = run("datasets", "add", str(bad), "--name", "bad")
    assert refused.exit_code == 2
    assert "第 2801 行" in refused.stderr and "row 2801" in refused.stderr and "'lat'" in refused.stderr
    assert json.loads(run("datasets", "list", "--json").stdout) == [] and stored_files(home) == []
    kept = run("datasets", "add", str(bad), "--name", "bad", "--skip-bad-rows", "--json")
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.stdout)["rows"] == 2997 and "row 1201" in kept.stderr
    # GCJ-02 through the CLI
    g = tmp_path / "g.csv"
    glon, glat = crs_mod.wgs84_to_gcj02(113.3245, 23.1375)
    g.write_text(f"lon,lat\n{float(glon):.8f},{float(glat):.8f}\n", encoding="utf-8")
    out = run("datasets", "add", str(g), "--name", "gcj", "--crs", "gcj02", "--json")
    assert out.exit_code == 0, out.output
    store_path = home / "datasets" / f"{json.loads(out.stdout)['id']}.parquet"
    row = pd.read_parquet(store_path).iloc[0]
    assert abs(row["lon"] - 113.3245) < 1e-6 and abs(row["lat"] - 23.1375) < 1e-6


def test_analyze_and_site_with_a_dataset_equal_the_file(run, home: Path, tmp_path: Path) -> None:
    assert run("demo").exit_code == 0
    hot = str(home / "sample" / "hotspots.csv")
    record = json.loads(run("datasets", "add", hot, "--name", "样例热点", "--json").stdout)
    by_id, by_file = tmp_path / "by_id", tmp_path / "by_file"
    first = run("analyze", "--dataset", str(record["id"]), "--out", str(by_id), "--quiet", "--group", "外卖配送员",
                "--hourly")
    assert first.exit_code == 0, first.output
    second = run("analyze", "--hotspots", hot, "--out", str(by_file), "--quiet", "--group", "外卖配送员", "--hourly")
    assert second.exit_code == 0, second.output
    assert first.stdout.replace(str(by_id), "OUT") == second.stdout.replace(str(by_file), "OUT")
    names = sorted(p.name for p in by_file.iterdir())
    assert names == sorted(p.name for p in by_id.iterdir()) and "cells.parquet" in names
    for name in names:
        if name.endswith((".csv", ".geojson", ".json")) and name != "run.json":
            assert (by_id / name).read_bytes() == (by_file / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(by_id / "cells.parquet"), pd.read_parquet(by_file / "cells.parquet"))
    pd.testing.assert_frame_equal(pd.read_excel(by_id / "summary.xlsx"), pd.read_excel(by_file / "summary.xlsx"))
    info = json.loads((by_id / "run.json").read_text(encoding="utf-8"))
    assert info["source"].startswith(f"dataset:{record['id']}") and info["input_rows"] == record["rows"]
    # site: the same plan
    a = run("site", "--dataset", str(record["id"]), "--k", "3", "--group", "外卖配送员", "--json")
    b = run("site", "--hotspots", hot, "--k", "3", "--group", "外卖配送员", "--json")
    assert a.exit_code == 0 and json.loads(a.stdout) == json.loads(b.stdout)
    # report: the same figures
    r1 = run("report", "--area", "440106", "--dataset", str(record["id"]), "--out", str(tmp_path / "a.html"))
    r2 = run("report", "--area", "440106", "--hotspots", hot, "--out", str(tmp_path / "b.html"))
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    assert r1.stdout.splitlines()[0] == r2.stdout.splitlines()[0] and "天河区" in r1.stdout
    assert run("report", "--area", "440106", "--dataset", "999", "--out", str(tmp_path / "c.html")).exit_code == 2
    # exactly one of --hotspots / --dataset; unknown ids; options that do not apply
    for args in (["--out", str(tmp_path / "x")], ["--hotspots", hot, "--dataset", str(record["id"]), "--out",
                                                  str(tmp_path / "x")]):
        refused = run("analyze", *args, "--quiet")
        assert refused.exit_code == 2 and "--hotspots" in refused.output and "--dataset" in refused.output
        assert "二者只选一个" in refused.output
    unknown = run("analyze", "--dataset", "999", "--out", str(tmp_path / "x"), "--quiet")
    assert unknown.exit_code == 2 and "no such hotspot dataset: 999" in unknown.output and "热点数据集不存在" in unknown.output
    assert not (tmp_path / "x").exists()
    assert run("site", "--dataset", "999", "--k", "3").exit_code == 2
    assert run("site", "--k", "3").exit_code == 2
    assert run("analyze", "--dataset", str(record["id"]), "--hotspot-crs", "gcj02", "--out", str(tmp_path / "x"),
               "--quiet").exit_code == 2


# -- a large file in bounded memory ------------------------------------------------------------------
def _big_csv(path: Path, target: int) -> int:
    """A CSV of about ``target`` bytes: a block of 20 000 random rows written again and again."""
    rng = np.random.default_rng(7)
    n = 20_000
    lon, lat = rng.uniform(113.1, 113.6, n), rng.uniform(22.9, 23.4, n)
    hour, minute = rng.integers(0, 24, n), rng.integers(0, 60, n)
    groups = np.array(["外卖配送员", "快递员", "网约车司机", ""])[rng.integers(0, 4, n)]
    block = pd.DataFrame({"lon": lon, "lat": lat, "weight": rng.integers(1, 5, n),
                          "time": [f"2026-10-01T{h:02d}:{m:02d}:00" for h, m in zip(hour, minute)],
                          "group": groups}).to_csv(index=False, header=False, float_format="%.6f").encode()
    written = 0
    with open(path, "wb") as fh:
        fh.write(b"lon,lat,weight,time,group\n")
        while written < target:
            fh.write(block)
            written += len(block)
    return (written // len(block)) * n


_PROBE = """
import json, resource, sys, time
from pathlib import Path
import pyarrow.csv, pyarrow.parquet
from yizhan.coverage import hexgrid
from yizhan.coverage.datasets import DatasetStore
from yizhan.geodata import crs
from yizhan.stations import ingest
from yizhan.stations.storage import Registry
home = Path(sys.argv[1])
store = DatasetStore(Registry("sqlite:///" + str(home / "yizhan.sqlite")), home)
out = {}
if len(sys.argv) > 2:
    started = time.time()
    record = store.add(sys.argv[2], name="big")
    out = {"rows": record["rows"], "seconds": round(time.time() - started, 1)}
status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
out["peak_kb"] = int(status["VmHWM"].split()[0])              # this process's own high-water mark
out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


@pytest.mark.slow
def test_a_200_mb_csv_is_added_in_bounded_memory(home: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    n_rows = _big_csv(big, 200 * 1000 * 1000)
    size = big.stat().st_size
    assert size >= 200 * 1000 * 1000
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIZHAN_") and k != "DATABASE_URL"}

    def probe(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-c", _PROBE, str(home), *args], capture_output=True, text=True,
                              env=env, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    # peak memory: the kernel's high-water mark of the process's resident set (VmHWM).  Not
    # getrusage's ru_maxrss: on Linux that carries over the RSS of the forking process (pytest) across exec.
    baseline = probe()                        # the same modules imported, the registry opened
    added = probe(str(big))
    assert added["rows"] == n_rows
    increase = (added["peak_kb"] - baseline["peak_kb"]) * 1024
    print(f"\n200 MB CSV ({size / 1e6:.0f} MB, {n_rows} rows) added in {added['seconds']} s: peak RSS "
          f"{added['peak_kb'] / 1024:.0f} MiB, baseline {baseline['peak_kb'] / 1024:.0f} MiB, increase "
          f"{increase / 2**20:.0f} MiB")
    assert increase < 0.5 * size, (added, baseline)
    stored = pd.read_parquet(home / "datasets" / "1.parquet", columns=["hour"])
    assert len(stored) == n_rows and stored["hour"].between(0, 23).all()
