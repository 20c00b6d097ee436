"""Hotspot datasets on the web: upload (raw body and multipart, streamed to disk), list, rename,
delete, permissions, all-or-nothing, the size limit, the ``dataset`` parameter of the coverage
routes (checked against the analysis functions), caching per dataset, ``/api/report`` — and a
200 MB upload to a real server whose peak memory stays far below the file size."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import clear_settings

from yizhan.app import create_app
from yizhan.samples import load_sample

PASSWORD = "secret-pass-1"
pytestmark = pytest.mark.databases
TIANHE = "440106"
#: central Tianhe (WGS-84): the uploaded dataset keeps only the sample's hotspots in this box
BOX = (113.30, 23.115, 113.37, 23.16)


@pytest.fixture(scope="module")
def app(tmp_path_factory, module_database_url):
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        home = tmp_path_factory.mktemp("dsweb") / "home"
        app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False,
                          "DATABASE_URL": module_database_url})
    reg = app.extensions["yizhan"].registry
    load_sample(reg, home)
    reg.create_user("plan1", PASSWORD, "planner")
    reg.create_user("admin1", PASSWORD, "admin")
    reg.create_user("tianhe", PASSWORD, "district", adcode=TIANHE)
    return app


@pytest.fixture
def no_datasets_left(app):
    """Each test starts and ends without datasets."""
    svc = app.extensions["yizhan"]
    yield
    for rec in svc.datasets().list():
        svc.datasets().remove(rec["id"])
        svc.datasets_changed(removed=rec["id"])


@pytest.fixture(scope="module")
def tianhe_csv(app) -> bytes:
    """The sample's hotspots inside central Tianhe only, as CSV."""
    frame = pd.read_csv(Path(app.config["HOME"]) / "sample" / "hotspots.csv")
    keep = frame["lon"].between(BOX[0], BOX[2]) & frame["lat"].between(BOX[1], BOX[3])
    assert 1000 < keep.sum() < len(frame) / 2
    return frame[keep].to_csv(index=False).encode("utf-8")


def login(client, username: str) -> str:
    with client.session_transaction() as s:
        s["csrf"] = "planted-token"
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": "planted-token"})
    assert resp.status_code == 302
    return client.get("/api/me").get_json()["csrf"]


@pytest.fixture
def planner(app, no_datasets_left):
    client = app.test_client()
    client.token = login(client, "plan1")
    return client


@pytest.fixture
def district(app):
    client = app.test_client()
    client.token = login(client, "tianhe")
    return client


def upload_raw(client, data: bytes, name: str, **params):
    query = {"name": name, "filename": params.pop("filename", "orders.csv"), **params}
    return client.post("/api/datasets", query_string=query, data=data, content_type="text/csv",
                       headers={"X-CSRF-Token": client.token})


def upload_form(client, data: bytes, name: str, **fields):
    form = {"file": (io.BytesIO(data), fields.pop("filename", "orders.csv")), "name": name, **fields}
    return client.post("/api/datasets", data=form, content_type="multipart/form-data",
                       headers={"X-CSRF-Token": client.token})


def stored_files(app) -> list[str]:
    folder = Path(app.config["HOME"]) / "datasets"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def assert_error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    err = resp.get_json()["error"]
    assert err["zh"] and err["en"] and err["status"] == status
    return err


# -- upload, list, rename, delete ---------------------------------------------------------------------
def test_raw_body_upload_list_rename_delete(app, planner, tianhe_csv) -> None:
    resp = upload_raw(planner, tianhe_csv, "2026年10月 平台订单", crs="wgs84")
    assert resp.status_code == 201, resp.get_data(as_text=True)[:500]
    rec = resp.get_json()
    n = tianhe_csv.count(b"\n") - 1
    assert rec["rows"] == n and rec["skipped"] == 0 and rec["name"] == "2026年10月 平台订单"
    assert rec["created_by"] == "plan1" and rec["bytes"] == len(tianhe_csv) and rec["kind"] == "points"
    assert resp.headers["Location"] == f"/api/datasets/{rec['id']}"
    listed = planner.get("/api/datasets").get_json()
    assert [r["id"] for r in listed] == [rec["id"]]
    assert {"id", "name", "rows", "created_at", "kind", "crs", "bytes", "created_by", "skipped"} <= set(listed[0])
    h = {"X-CSRF-Token": planner.token}
    renamed = planner.patch(f"/api/datasets/{rec['id']}", json={"name": "天河 十月"}, headers=h)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "天河 十月"
    second = upload_raw(planner, tianhe_csv, "另一个")
    assert second.status_code == 201
    assert [r["name"] for r in planner.get("/api/datasets").get_json()] == ["另一个", "天河 十月"]   # newest first
    assert_error(planner.patch(f"/api/datasets/{rec['id']}", json={"name": "另一个"}, headers=h), 409)
    assert_error(upload_raw(planner, tianhe_csv, "另一个"), 409)                     # a taken name
    assert_error(planner.patch(f"/api/datasets/{rec['id']}", json={"name": ""}, headers=h), 400)
    assert_error(planner.patch("/api/datasets/999999", json={"name": "x"}, headers=h), 404)
    assert_error(planner.delete("/api/datasets/999999", headers=h), 404)
    gone = planner.delete(f"/api/datasets/{rec['id']}", headers=h)
    assert gone.status_code == 200 and gone.get_json()["deleted"] == rec["id"]
    assert [r["name"] for r in planner.get("/api/datasets").get_json()] == ["另一个"]
    assert f"{rec['id']}.parquet" not in stored_files(app)
    actions = [e["action"] for e in app.extensions["yizhan"].datasets().history(rec["id"])]
    assert actions == ["remove", "rename", "add"]


def test_multipart_upload(app, planner, tianhe_csv) -> None:
    resp = upload_form(planner, tianhe_csv, "表单上传", crs="wgs84", skip_bad_rows="0")
    assert resp.status_code == 201, resp.get_data(as_text=True)[:500]
    rec = resp.get_json()
    assert rec["rows"] == tianhe_csv.count(b"\n") - 1 and rec["source_name"] == "orders.csv"
    assert_error(upload_form(planner, tianhe_csv, "x", zz_unknown="1"), 400)
    assert_error(upload_form(planner, tianhe_csv, "x", filename="orders.exe"), 415)
    assert_error(planner.post("/api/datasets", json={"name": "x"}, headers={"X-CSRF-Token": planner.token}), 415)
    assert_error(upload_raw(planner, tianhe_csv, ""), 400)                            # a name is required


def test_gcj02_upload_is_converted(app, planner) -> None:
    from yizhan.geodata.crs import from_wgs84

    lon, lat = from_wgs84(np.array([113.33]), np.array([23.13]), "gcj02")
    csv = f"lon,lat,weight\n{lon[0]:.7f},{lat[0]:.7f},3\n".encode()
    rec = upload_raw(planner, csv, "火星坐标", crs="gcj02").get_json()
    points = app.extensions["yizhan"].datasets().hotspots(rec["id"])
    assert rec["crs"] == "gcj02" and abs(points["lon"].iloc[0] - 113.33) < 1e-5


# -- permissions -------------------------------------------------------------------------------------
def test_district_unions_and_riders_may_not_upload_or_delete(app, planner, district, tianhe_csv) -> None:
    rec = upload_raw(planner, tianhe_csv, "规划上传").get_json()
    assert [r["id"] for r in district.get("/api/datasets").get_json()] == [rec["id"]]      # they may list
    assert_error(upload_raw(district, tianhe_csv, "区工会上传"), 403)
    assert_error(upload_form(district, tianhe_csv, "区工会上传"), 403)
    h = {"X-CSRF-Token": district.token}
    assert_error(district.patch(f"/api/datasets/{rec['id']}", json={"name": "改"}, headers=h), 403)
    assert_error(district.delete(f"/api/datasets/{rec['id']}", headers=h), 403)
    anon = app.test_client()
    assert_error(anon.get("/api/datasets"), 401)
    with anon.session_transaction() as s:
        s["csrf"] = "t"
    anon.token = "t"
    assert_error(upload_raw(anon, tianhe_csv, "匿名"), 401)
    assert_error(anon.delete(f"/api/datasets/{rec['id']}", headers={"X-CSRF-Token": "t"}), 401)
    assert_error(anon.get(f"/api/report?area={TIANHE}&format=html"), 401)
    refused = planner.post("/api/datasets", query_string={"name": "无令牌"}, data=tianhe_csv,
                           content_type="text/csv")
    assert_error(refused, 403)                                                         # no CSRF token
    assert [r["id"] for r in planner.get("/api/datasets").get_json()] == [rec["id"]]


# -- all or nothing, skipping, size -----------------------------------------------------------------
def test_a_bad_row_refuses_the_whole_file_unless_skipped(app, planner) -> None:
    csv = b"lon,lat,weight\n113.33,23.13,1\n113.34,abc,1\n113.35,23.14,1\n"
    before = stored_files(app)
    err = assert_error(upload_raw(planner, csv, "有坏行"), 400)
    assert err["problems"] and err["problems"][0]["row"] == 3 and err["problems"][0]["column"] == "lat"
    assert err["problems"][0]["zh"] and err["problems"][0]["en"]
    assert planner.get("/api/datasets").get_json() == [] and stored_files(app) == before
    err = assert_error(upload_form(planner, csv, "有坏行"), 400)
    assert err["problems"][0]["row"] == 3
    assert planner.get("/api/datasets").get_json() == []
    resp = upload_raw(planner, csv, "跳过坏行", skip_bad_rows="1")
    assert resp.status_code == 201
    assert resp.get_json()["rows"] == 2 and resp.get_json()["skipped"] == 1
    assert resp.get_json()["problems"][0]["row"] == 3


def test_an_upload_above_dataset_max_bytes_is_413_and_leaves_nothing(app, planner, tianhe_csv,
                                                                    monkeypatch) -> None:
    monkeypatch.setitem(app.config, "DATASET_MAX_BYTES", 4096)
    before = stored_files(app)
    assert len(tianhe_csv) > 4096
    for send in (upload_raw, upload_form):
        assert_error(send(planner, tianhe_csv, "太大"), 413)
    # larger than the werkzeug limit of the request itself (DATASET_MAX_BYTES + multipart slack)
    big = tianhe_csv * (2 * 1024 * 1024 // len(tianhe_csv) + 1)
    assert_error(upload_raw(planner, big, "太大"), 413)
    assert planner.get("/api/datasets").get_json() == [] and stored_files(app) == before
    monkeypatch.setitem(app.config, "DATASET_MAX_BYTES", 64 * 1024 * 1024)
    # the app-wide MAX_UPLOAD_BYTES (20 MB) does not apply to this route
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    assert upload_raw(planner, tianhe_csv, "不受全局上限").status_code == 201
    assert upload_form(planner, tianhe_csv, "不受全局上限 2").status_code == 201


# -- the dataset parameter of the analyses ----------------------------------------------------------
def _row(summary: dict, adcode: str) -> dict:
    return next(r for r in summary["rows"] if r["adcode"] == adcode and r["level"] == "district")


def test_coverage_with_a_dataset_differs_from_the_file_and_matches_the_analysis(app, planner, tianhe_csv) -> None:
    from yizhan.coverage import aggregate, analyze

    anon = app.test_client()
    default = anon.get("/api/coverage/summary").get_json()
    assert default["dataset"] is None
    rec = upload_raw(planner, tianhe_csv, "只有天河").get_json()
    chosen = anon.get(f"/api/coverage/summary?dataset={rec['id']}").get_json()
    assert chosen["dataset"] == {"id": rec["id"], "name": "只有天河"}
    assert chosen["total_demand"] < default["total_demand"]
    assert chosen["n_cells"] != default["n_cells"]
    newest = anon.get("/api/coverage/summary").get_json()                   # the default is now the newest
    assert newest["dataset"]["id"] == rec["id"] and newest["total_demand"] == chosen["total_demand"]
    # independently: the stored rows, aggregated and analysed as `yizhan analyze --dataset` does
    svc = app.extensions["yizhan"]
    points = svc.datasets().hotspots(rec["id"])
    result = analyze(svc.registry.stations(), aggregate(points, 9), thresholds=app.config["THRESHOLDS_M"])
    expected = result.summary.set_index(["adcode", "level"]).loc[(TIANHE, "district")]
    got = _row(chosen, TIANHE)
    assert got["covered_share"] == pytest.approx(float(expected["covered_share"]), abs=1e-12)
    assert got["demand"] == pytest.approx(float(expected["demand"]))
    assert got["n_blank_spots"] == int(expected["n_blank_spots"])
    assert chosen["covered_share"] == pytest.approx(result.covered_share, abs=1e-12)
    assert float(points["weight"].sum()) == pytest.approx(chosen["total_demand"])
    # every analysis route takes it
    q = f"dataset={rec['id']}"
    for url in ("/api/coverage/cells", "/api/coverage/blank-spots", "/api/coverage/blind-zones",
                "/api/coverage/hourly", "/api/siting?k=2", "/api/impact?lon=113.33&lat=23.13"):
        resp = anon.get(url + ("&" if "?" in url else "?") + q)
        assert resp.status_code == 200, (url, resp.get_data(as_text=True)[:300])
    dl = anon.get(f"/api/coverage/download?what=summary&format=csv&{q}")
    assert dl.status_code == 200 and f"dataset{rec['id']}" in dl.headers["Content-Disposition"]
    cells = anon.get(f"/api/coverage/cells?{q}").get_json()["features"]
    file_cells = anon.get("/api/coverage/cells?dataset=").get_json()["features"]
    assert len(cells) == len(file_cells)                        # empty = the default (the newest)
    for url in ("/api/coverage/summary", "/api/siting", "/api/impact?lon=113.33&lat=23.13",
                "/api/coverage/download", "/api/coverage/hourly"):
        err = assert_error(anon.get(url + ("&" if "?" in url else "?") + "dataset=999999"), 404)
        assert err["field"] == "dataset"
    assert_error(anon.get("/api/coverage/summary?dataset=abc"), 400)


def test_results_are_cached_per_dataset_and_invalidated(app, planner, tianhe_csv) -> None:
    svc = app.extensions["yizhan"]
    rec = upload_raw(planner, tianhe_csv, "缓存").get_json()
    first = svc.coverage(dataset=rec["id"])
    assert svc.coverage(dataset=rec["id"]) is first                         # cached
    assert svc.demand(9, dataset=rec["id"]) is svc.demand(9, dataset=rec["id"])
    other = upload_raw(planner, tianhe_csv[: len(tianhe_csv) // 2].rsplit(b"\n", 1)[0] + b"\n", "一半").get_json()
    assert svc.coverage(dataset=other["id"]) is not first
    assert svc.coverage(dataset=rec["id"]) is first                         # both kept
    before = _row(planner.get(f"/api/coverage/summary?dataset={rec['id']}").get_json(), TIANHE)
    h = {"X-CSRF-Token": planner.token}
    created = planner.post("/api/stations", json={"name": "缓存测试驿站", "type": "工会爱心驿站", "lon": 113.3321,
                                                  "lat": 23.1372}, headers=h)
    assert created.status_code == 201, created.get_data(as_text=True)[:300]
    sid = created.get_json()["id"]
    try:
        after = _row(planner.get(f"/api/coverage/summary?dataset={rec['id']}").get_json(), TIANHE)
        assert after["n_stations"] == before["n_stations"] + 1
        assert svc.coverage(dataset=rec["id"]) is not first
    finally:
        assert planner.delete(f"/api/stations/{sid}", headers=h).status_code == 200
    assert planner.delete(f"/api/datasets/{rec['id']}", headers=h).status_code == 200
    assert not [k for k in svc._results if k[-1][:2] == ("dataset", rec["id"])]
    assert not [k for k in svc._demand if k[0][:2] == ("dataset", rec["id"])]
    assert_error(planner.get(f"/api/coverage/summary?dataset={rec['id']}"), 404)


# -- reports -----------------------------------------------------------------------------------------
_REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I)


def test_html_report_of_an_area(app, planner, district, tianhe_csv) -> None:
    rec = upload_raw(planner, tianhe_csv, "报告数据").get_json()
    resp = planner.get(f"/api/report?area={TIANHE}&format=html&dataset={rec['id']}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "text/html" and "attachment" in resp.headers["Content-Disposition"]
    assert f"yizhan-report-{TIANHE}-dataset{rec['id']}.html" in resp.headers["Content-Disposition"]
    html = resp.get_data(as_text=True)
    assert "天河区" in html and not _REMOTE.search(html)
    own = district.get(f"/api/report?area={TIANHE}&format=html")
    assert own.status_code == 200
    assert_error(district.get("/api/report?area=440105&format=html"), 403)       # another district
    assert_error(district.get("/api/report?area=440100&format=html"), 403)       # its city
    assert_error(planner.get("/api/report?area=999999&format=html"), 404)
    assert_error(planner.get("/api/report?format=html"), 400)
    assert_error(planner.get(f"/api/report?area={TIANHE}&format=doc"), 400)
    assert_error(planner.get(f"/api/report?area={TIANHE}&format=html&dataset=999999"), 404)


def test_pdf_report_or_503_without_chromium(app, planner, monkeypatch) -> None:
    from yizhan.coverage import report as report_mod

    if report_mod.find_chromium() is not None:
        resp = planner.get(f"/api/report?area={TIANHE}&format=pdf")
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        assert resp.mimetype == "application/pdf" and resp.data.startswith(b"%PDF")
    monkeypatch.setattr(report_mod, "find_chromium", lambda: None)
    err = assert_error(planner.get(f"/api/report?area={TIANHE}&format=pdf"), 503)
    assert "Chromium" in err["en"]


def test_dataset_routes_are_in_the_openapi_document(app) -> None:
    doc = app.test_client().get("/openapi.json").get_json()
    assert {"get", "post"} <= set(doc["paths"]["/api/datasets"])
    assert {"patch", "delete"} <= set(doc["paths"]["/api/datasets/{dataset_id}"])
    assert "/api/report" in doc["paths"]
    for path in ("/api/coverage/cells", "/api/coverage/summary", "/api/siting", "/api/impact",
                 "/api/coverage/download", "/api/coverage/hourly"):
        names = [p.get("name") or p["$ref"].rsplit("/", 1)[1] for p in doc["paths"][path]["get"]["parameters"]]
        assert "dataset" in names, path


# -- a 200 MB upload to a real server: memory ----------------------------------------------------------
SERVER = """
import sys
from werkzeug.serving import make_server
from yizhan.app import create_app
app = create_app({"HOME": sys.argv[1], "RATE_LIMIT_ENABLED": False})
srv = make_server("127.0.0.1", 0, app, threaded=True)
print(srv.server_port, flush=True)
srv.serve_forever()
"""
UPLOAD_MB = 200


def _vm_hwm_kb(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", text, re.M).group(1))


def _rows(total: int):
    """``total`` bytes of hotspot CSV in 1 MB pieces (a header, then rows around Guangzhou)."""
    rng = np.random.default_rng(7)
    lon = 113.25 + rng.random(20000) * 0.15
    lat = 23.08 + rng.random(20000) * 0.1
    block = "".join(f"{x:.6f},{y:.6f},{w}\n" for x, y, w in zip(lon, lat, rng.integers(1, 4, 20000))).encode()
    header = b"lon,lat,weight\n"
    yield header
    sent = len(header)
    while sent < total:
        piece = block[: total - sent]
        piece = piece[: piece.rfind(b"\n") + 1]           # whole rows only (the total is "about")
        if not piece:
            return
        sent += len(piece)
        yield piece


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_a_200_mb_upload_streams_with_memory_far_below_its_size(tmp_path) -> None:
    import requests

    home = tmp_path / "home"
    app = create_app({"HOME": str(home), "TESTING": True})
    app.extensions["yizhan"].registry.create_user("plan1", PASSWORD, "planner")
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(home)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        port = int(proc.stdout.readline().strip())
        base = f"http://127.0.0.1:{port}"
        s = requests.Session()
        token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(base + "/login").text).group(1)
        assert s.post(base + "/login", data={"username": "plan1", "password": PASSWORD, "csrf_token": token},
                      allow_redirects=False).status_code == 302
        token = s.get(base + "/api/me").json()["csrf"]
        h = {"X-CSRF-Token": token, "Content-Type": "application/octet-stream"}
        warm = s.post(base + "/api/datasets", params={"name": "预热", "filename": "w.csv"}, headers=h,
                      data=b"".join(_rows(2 << 20)))
        assert warm.status_code == 201, warm.text[:300]               # libraries loaded, caches warm
        before = _vm_hwm_kb(proc.pid)
        total = UPLOAD_MB * 1024 * 1024
        started = time.monotonic()
        resp = s.post(base + "/api/datasets", params={"name": "两百兆", "filename": "big.csv"}, headers=h,
                      data=_rows(total), timeout=600)                  # a generator: chunked, streamed
        elapsed = time.monotonic() - started
        assert resp.status_code == 201, resp.text[:500]
        rec = resp.json()
        assert total - 100 < rec["bytes"] <= total and rec["rows"] > 7_000_000
        after = _vm_hwm_kb(proc.pid)
        growth_mb = (after - before) / 1024
        print(f"200 MB upload: VmHWM {before / 1024:.0f} MB -> {after / 1024:.0f} MB (+{growth_mb:.0f} MB) "
              f"in {elapsed:.0f} s")
        assert growth_mb < 0.5 * UPLOAD_MB, growth_mb
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
