"""Registry management API: station create/edit/delete, file import, history with undo, accounts.

Each write is checked against the registry itself (rows, history) and against the import path
(a web edit is validated exactly like a file row); undo is checked to restore the exact row."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import STATION_HEADER, STATION_ROWS, write_csv
from yizhan.app import create_app
from yizhan.geodata import crs as crs_mod
from yizhan.stations import import_stations_file

PASSWORD = "secret-pass-1"
pytestmark = pytest.mark.databases         # every test on SQLite and on PostgreSQL


@pytest.fixture
def app(home: Path, tmp_path: Path, database_url):
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, "DATABASE_URL": database_url})
    reg = app.extensions["yizhan"].registry
    import_stations_file(reg, write_csv(tmp_path / "s.csv", STATION_ROWS), user="seed")
    reg.create_user("admin1", PASSWORD, "admin")
    reg.create_user("plan1", PASSWORD, "planner")
    reg.create_user("gzplan", PASSWORD, "planner", adcode="440100")      # Guangzhou only
    reg.create_user("szplan", PASSWORD, "planner", adcode="440300")      # Shenzhen only
    reg.create_user("tianhe", PASSWORD, "district", adcode="440106")
    return app


@pytest.fixture
def reg(app):
    return app.extensions["yizhan"].registry


def client_for(app, username: str | None):
    """A test client logged in as ``username`` (None: anonymous); ``client.h`` holds the CSRF header."""
    client = app.test_client()
    with client.session_transaction() as s:
        s["csrf"] = "planted"
    if username:
        resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": "planted"})
        assert resp.status_code == 302
    client.h = {"X-CSRF-Token": client.get("/api/me").get_json()["csrf"] or "planted"}
    return client


def err(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:600]
    e = resp.get_json()["error"]
    assert e["zh"] and e["en"] and e["status"] == status
    return e


def snapshot(reg) -> tuple:
    """Everything an undo must restore: the station rows (all columns)."""
    frame = reg.stations()
    return tuple(sorted(json.dumps({k: (None if v is None or pd.isna(v) else v) for k, v in r.items()},
                                   ensure_ascii=False, default=str, sort_keys=True)
                        for r in frame.to_dict("records")))


NEW = {"name": "体育西路快递员之家", "type": "快递员之家", "lon": 113.3210, "lat": 23.1400, "hours": "08:00-20:00",
       "services": ["饮水", "充电"], "capacity": 8, "address": "广州市天河区体育西路 9 号"}


# -- stations -------------------------------------------------------------------------------------------
def test_create_station_matches_the_import_path_and_is_found_at_once(app, reg, tmp_path) -> None:
    c = client_for(app, "plan1")
    assert c.get("/api/nearest?lon=113.3210&lat=23.1400&k=1").get_json()[0]["id"] == "T1"   # warm the index
    resp = c.post("/api/stations", json=NEW, headers=c.h)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    rec = resp.get_json()
    assert resp.headers["Location"] == f"/api/stations/{rec['id']}"
    assert rec["adcode"] == "440106" and rec["services"] == "饮水、充电" and rec["capacity"] == 8
    assert reg.get(rec["id"]) == rec
    # the same row through a CSV import gives the same registry values (bar the stamp and the source)
    other = create_app({"HOME": str(tmp_path / "other"), "TESTING": True}).extensions["yizhan"].registry
    row = f"{rec['id']},{NEW['name']},{NEW['type']},{NEW['address']},饮水、充电,08:00-20:00,8,,在运营,113.3210,23.1400"
    import_stations_file(other, write_csv(tmp_path / "one.csv", [row]))
    via_csv = other.get(rec["id"])
    assert {k: v for k, v in via_csv.items() if k not in ("updated_at", "source")} == \
           {k: v for k, v in rec.items() if k not in ("updated_at", "source")}
    assert c.get("/api/nearest?lon=113.3210&lat=23.1400&k=1").get_json()[0]["id"] == rec["id"]
    assert c.get(f"/api/stations/{rec['id']}").get_json() == rec                    # public read
    h = reg.history(rec["id"]).iloc[0]
    assert h["action"] == "create" and h["user"] == "plan1"


def test_create_station_in_gcj02_is_stored_in_wgs84(app, reg) -> None:
    c = client_for(app, "admin1")
    glon, glat = crs_mod.from_wgs84(113.3210, 23.1400, "gcj02")
    rec = c.post("/api/stations", json={**NEW, "lon": float(glon), "lat": float(glat), "crs": "gcj02"},
                 headers=c.h).get_json()
    assert rec["lon"] == pytest.approx(113.3210, abs=1e-7) and rec["lat"] == pytest.approx(23.1400, abs=1e-7)
    assert rec["orig_crs"] == "gcj02" and rec["orig_lon"] == pytest.approx(float(glon))


def test_bad_station_is_refused_with_every_problem_and_nothing_written(app, reg) -> None:
    c = client_for(app, "plan1")
    before, n_hist = snapshot(reg), len(reg.history())
    e = err(c.post("/api/stations", json={"name": " ", "type": "茶馆", "lon": 113.3, "lat": 23.1, "hours": "25:00-26:00",
                                          "phone": "<script>"}, headers=c.h), 400)
    fields = {p["column"] for p in e["problems"]}
    assert {"name", "type", "hours", "phone"} <= fields and e["problem_count"] == len(e["problems"])
    assert all(p["zh"] and p["en"] for p in e["problems"])
    e = err(c.post("/api/stations", json={**NEW, "lon": 100.0, "lat": 10.0}, headers=c.h), 400)   # the sea, not China
    assert e["problems"][0]["column"] in ("lon", "lat")
    e = err(c.post("/api/stations", json={**NEW, "lon": 113.3245, "lat": 23.13751}, headers=c.h), 400)  # 1 m from T1
    assert e["problems"][0]["code"] == "near_existing"
    err(c.post("/api/stations", json={**NEW, "id": "T1"}, headers=c.h), 409)
    for bad in ({**NEW, "lon": "113"}, {**NEW, "capacity": 1.5}, {**NEW, "capacity": True}, {**NEW, "colour": 1},
                {k: v for k, v in NEW.items() if k != "lat"}, {**NEW, "crs": "utm"}, {**NEW, "name": 5},
                {**NEW, "services": [1, 2]}, {**NEW, "lon": float("nan")}):
        raw = json.dumps(bad, allow_nan=True)
        err(c.post("/api/stations", data=raw, content_type="application/json", headers=c.h), 400)
    assert snapshot(reg) == before and len(reg.history()) == n_hist


def test_hostile_names_are_valid_data(app, reg) -> None:
    c = client_for(app, "plan1")
    for i, name in enumerate(("<img src=x onerror=alert(1)>", "=cmd|' /C calc'!A0", "'; DROP TABLE stations; --")):
        rec = c.post("/api/stations", json={**NEW, "name": name, "lon": 113.30 + i * 0.01}, headers=c.h).get_json()
        assert reg.get(rec["id"])["name"] == name
    assert reg.count() == 6


def test_patch_put_and_delete_with_history(app, reg) -> None:
    c = client_for(app, "plan1")
    t1 = reg.get("T1")
    resp = c.patch("/api/stations/T1", json={"hours": "24h", "note": "改为全天"}, headers=c.h)
    assert resp.status_code == 200 and resp.get_json()["hours"] == "24h"
    h = reg.history("T1").iloc[0]
    assert h["action"] == "update" and h["note"] == "改为全天"
    assert json.loads(h["before"])["hours"] == "08:00-20:00"
    assert reg.get("T1")["lon"] == t1["lon"] and reg.get("T1")["orig_crs"] == t1["orig_crs"]   # not moved
    n = len(reg.history())
    assert c.patch("/api/stations/T1", json={"hours": "24h"}, headers=c.h).status_code == 200
    assert len(reg.history()) == n                                         # nothing changed, nothing recorded
    moved = c.patch("/api/stations/T1", json={"lon": 113.2700, "lat": 23.1290}, headers=c.h).get_json()
    assert moved["adcode"] == "440104"                                     # moved into Yuexiu: district found again
    err(c.patch("/api/stations/T1", json={"lon": 113.27}, headers=c.h), 400)
    err(c.patch("/api/stations/T1", json={"id": "T9"}, headers=c.h), 400)
    err(c.patch("/api/stations/T1", json={"status": "开业"}, headers=c.h), 400)
    err(c.patch("/api/stations/NOPE", json={"hours": "24h"}, headers=c.h), 404)
    err(c.put("/api/stations/T2", json={"hours": "24h"}, headers=c.h), 400)        # PUT needs the whole station
    put = c.put("/api/stations/T2", json={"name": "琶洲快递员之家（新）", "type": "快递员之家", "lon": 113.3650,
                                          "lat": 23.1000}, headers=c.h).get_json()
    assert put["name"] == "琶洲快递员之家（新）" and put["hours"] == ""             # fields not sent are cleared
    resp = c.delete("/api/stations/T3", headers=c.h)
    assert resp.status_code == 200 and reg.get("T3") is None
    assert resp.get_json()["history_id"] == int(reg.history("T3").iloc[0]["id"])
    err(c.delete("/api/stations/T3", headers=c.h), 404)


# -- history and undo -------------------------------------------------------------------------------------
def test_undo_restores_the_exact_rows_and_refuses_stale_undos(app, reg) -> None:
    c = client_for(app, "plan1")
    start = snapshot(reg)
    c.patch("/api/stations/T1", json={"hours": "24h"}, headers=c.h)
    c.patch("/api/stations/T1", json={"phone": "020-1"}, headers=c.h)
    c.delete("/api/stations/T2", headers=c.h)
    page = c.get("/api/history?limit=10", headers=c.h).get_json()
    ids = [e["id"] for e in page["entries"]]
    assert ids == sorted(ids, reverse=True) and page["entries"][0]["action"] == "delete"
    first_edit = next(e for e in page["entries"] if e["changes"] and e["changes"][0]["field"] == "hours")
    assert {"field": "hours", "before": "08:00-20:00", "after": "24h"} in first_edit["changes"]
    # undoing the older edit of T1 would silently drop the newer one: refused, nothing written
    n = len(reg.history())
    e = err(c.post(f"/api/history/{first_edit['id']}/undo", json={}, headers=c.h), 409)
    assert "T1" in e["en"] and len(reg.history()) == n
    # newest first works; then the older one
    for entry in page["entries"][:3]:
        resp = c.post(f"/api/history/{entry['id']}/undo", headers=c.h)
        assert resp.status_code == 200, resp.get_data(as_text=True)
    assert snapshot(reg) == start
    listed = c.get("/api/history?limit=20", headers=c.h).get_json()["entries"]
    undone = {e["id"]: e["undone_by"] for e in listed}
    assert all(undone[i] for i in ids[:3])
    # undo of an undo is a redo
    redo = listed[0]
    assert redo["action"] == "undo"
    c.post(f"/api/history/{redo['id']}/undo", headers=c.h)
    assert reg.get("T1")["hours"] == "24h"
    # force overwrites a later change (and is itself recorded)
    c.patch("/api/stations/T1", json={"hours": "09:00-17:00"}, headers=c.h)
    err(c.post(f"/api/history/{first_edit['id']}/undo", json={"force": "yes"}, headers=c.h), 400)
    assert c.post(f"/api/history/{first_edit['id']}/undo", json={"force": True}, headers=c.h).status_code == 200
    assert reg.get("T1")["hours"] == "08:00-20:00"
    err(c.post("/api/history/999999/undo", headers=c.h), 404)


def test_history_filters_and_paging(app, reg) -> None:
    c = client_for(app, "admin1")
    for h in ("01:00-02:00", "02:00-03:00", "03:00-04:00"):
        c.patch("/api/stations/T2", json={"hours": h}, headers=c.h)
    only = c.get("/api/history?station_id=T2&action=update", headers=c.h).get_json()["entries"]
    assert len(only) == 3 and all(e["station_id"] == "T2" and e["user"] == "admin1" for e in only)
    assert [e["id"] for e in only] == sorted((e["id"] for e in only), reverse=True)
    seen, before = [], None
    while True:
        q = "limit=2" + (f"&before_id={before}" if before else "")
        page = c.get(f"/api/history?{q}", headers=c.h).get_json()
        seen += [e["id"] for e in page["entries"]]
        before = page["next_before_id"]
        if before is None:
            break
    assert seen == [int(i) for i in reg.history(limit=1000)["id"]]
    assert c.get("/api/history?user=seed", headers=c.h).get_json()["entries"][0]["action"] == "create"
    for bad in ("action=rename", "limit=0", "limit=501", "before_id=x", "colour=red", "station_id=" + "x" * 65):
        err(c.get(f"/api/history?{bad}", headers=c.h), 400)


def test_import_upload_dry_run_problems_and_batch_undo(app, reg) -> None:
    c = client_for(app, "plan1")
    start, n_hist = snapshot(reg), len(reg.history())
    rows = [STATION_ROWS[0].replace("08:00-20:00", "24h"),                      # an update of T1
            "T8,珠江新城驿站,工会爱心驿站,广州市天河区,饮水,24h,4,,在运营,113.3300,23.1200",
            "T9,员村驿站,工会爱心驿站,广州市天河区,饮水,24h,4,,在运营,113.3600,23.1250"]
    data = (STATION_HEADER + "\n".join(rows) + "\n").encode("gbk")

    def upload(content: bytes, name: str = "new.csv", **form):
        return c.post("/api/stations/import", data={"file": (io.BytesIO(content), name), **form}, headers=c.h,
                      content_type="multipart/form-data")

    dry = upload(data, dry_run="1").get_json()
    assert dry["dry_run"] is True and dry["created"] == 2 and dry["batch"] is None
    assert snapshot(reg) == start
    done = upload(data).get_json()
    assert (done["created"], done["updated"], done["unchanged"]) == (2, 1, 0)
    assert reg.get("T8")["source"] == "new.csv" and reg.get("T1")["hours"] == "24h"
    batch = c.get(f"/api/history?batch={done['batch']}", headers=c.h).get_json()["entries"]
    assert len(batch) == 3 and all(e["note"] == "web import new.csv" for e in batch)
    # a broken file: every problem by row and column, nothing written
    broken = (STATION_HEADER + "T10,坏行,茶馆,,,,,,,113.33,23.12\nT11,海里,工会爱心驿站,,,,,,,114.5,21.0\n").encode()
    e = err(upload(broken), 400)
    assert {(p["row"], p["column"]) for p in e["problems"]} >= {(2, "类型"), (3, "经度")}
    skipped = upload(broken.replace(b"T11,\xe6", b"T11,\xe6"), skip_bad_rows="1")
    assert skipped.status_code == 400                                            # no valid row left
    err(upload(b"", "empty.csv"), 400)
    err(upload(b"\x00\x01\x02binary", "junk.csv"), 400)
    err(upload(data, "stations.exe"), 415)
    err(upload(data, crs="utm"), 400)
    err(upload(data, dry_run="maybe"), 400)
    err(upload(data, colour="red"), 400)
    err(c.post("/api/stations/import", data={}, headers=c.h, content_type="multipart/form-data"), 400)
    undone = c.post(f"/api/history/batches/{done['batch']}/undo", json={}, headers=c.h)
    assert undone.get_json() == {"batch": done["batch"], "undone": 3}
    assert snapshot(reg) == start
    err(c.post("/api/history/batches/0123456789abcdef0123456789abcdef/undo", headers=c.h), 404)
    err(c.post("/api/history/batches/NOT-A-BATCH/undo", headers=c.h), 404)
    assert len(reg.history()) == n_hist + 6


def test_batch_undo_is_all_or_nothing_when_a_station_changed_since(app, reg) -> None:
    c = client_for(app, "plan1")
    csv = (STATION_HEADER + "T8,珠江新城驿站,工会爱心驿站,广州市天河区,饮水,24h,4,,在运营,113.3300,23.1200\n"
           "T9,员村驿站,工会爱心驿站,广州市天河区,饮水,24h,4,,在运营,113.3600,23.1250\n").encode()
    done = c.post("/api/stations/import", data={"file": (io.BytesIO(csv), "b.csv")}, headers=c.h,
                  content_type="multipart/form-data").get_json()
    c.patch("/api/stations/T9", json={"phone": "020-9"}, headers=c.h)
    before = snapshot(reg)
    err(c.post(f"/api/history/batches/{done['batch']}/undo", headers=c.h), 409)
    assert snapshot(reg) == before                                              # T8 not removed either


def test_upload_size_limit(home, tmp_path, database_url) -> None:
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, "MAX_UPLOAD_BYTES": 4096,
                      "DATABASE_URL": database_url})
    app.extensions["yizhan"].registry.create_user("plan1", PASSWORD, "planner")
    c = client_for(app, "plan1")
    big = (STATION_HEADER + STATION_ROWS[0] + "\n" + "#" * 5000).encode()
    resp = c.post("/api/stations/import", data={"file": (io.BytesIO(big), "big.csv")}, headers=c.h,
                  content_type="multipart/form-data")
    err(resp, 413)
    assert app.extensions["yizhan"].registry.count() == 0


# -- areas: a city planner changes only its city ---------------------------------------------------------
def test_city_planner_is_limited_to_its_city(app, reg) -> None:
    sz = client_for(app, "szplan")
    gz = client_for(app, "gzplan")
    before = snapshot(reg)
    err(sz.patch("/api/stations/T1", json={"hours": "24h"}, headers=sz.h), 403)
    err(sz.delete("/api/stations/T1", headers=sz.h), 403)
    err(sz.post("/api/stations", json=NEW, headers=sz.h), 403)                   # NEW lies in Guangzhou
    csv = (STATION_HEADER + STATION_ROWS[0].replace("08:00-20:00", "24h") + "\n").encode()
    err(sz.post("/api/stations/import", data={"file": (io.BytesIO(csv), "x.csv")}, headers=sz.h,
                content_type="multipart/form-data"), 403)
    assert snapshot(reg) == before
    futian = sz.post("/api/stations", json={**NEW, "lon": 114.0550, "lat": 22.5430}, headers=sz.h)
    assert futian.status_code == 201 and futian.get_json()["adcode"].startswith("4403")
    # moving a Shenzhen station into Guangzhou is leaving the area
    err(sz.patch(f"/api/stations/{futian.get_json()['id']}", json={"lon": 113.33, "lat": 23.12}, headers=sz.h), 403)
    assert gz.patch("/api/stations/T1", json={"hours": "24h"}, headers=gz.h).status_code == 200
    gz_ids = {e["station_id"] for e in gz.get("/api/history?limit=500", headers=gz.h).get_json()["entries"]}
    sz_ids = {e["station_id"] for e in sz.get("/api/history?limit=500", headers=sz.h).get_json()["entries"]}
    assert gz_ids == {"T1", "T2", "T3"} and sz_ids == {futian.get_json()["id"]}
    t1_edit = int(reg.history("T1").iloc[0]["id"])
    err(sz.post(f"/api/history/{t1_edit}/undo", headers=sz.h), 403)
    err(sz.get(f"/api/history/{t1_edit}", headers=sz.h), 403)
    assert gz.get(f"/api/history/{t1_edit}", headers=gz.h).get_json()["station_id"] == "T1"


# -- accounts ---------------------------------------------------------------------------------------------
def test_admin_manages_accounts(app, reg) -> None:
    a = client_for(app, "admin1")
    listed = a.get("/api/users").get_json()
    assert {u["username"] for u in listed} == {"admin1", "plan1", "gzplan", "szplan", "tianhe"}
    assert all("password" not in json.dumps(u) for u in listed)
    resp = a.post("/api/users", json={"username": "yuexiu", "password": "long-enough-1", "role": "district",
                                      "adcode": "440104"}, headers=a.h)
    assert resp.status_code == 201 and resp.get_json()["adcode"] == "440104"
    uid = resp.get_json()["id"]
    assert client_for(app, None).post("/login", data={"username": "yuexiu", "password": "long-enough-1",
                                                      "csrf_token": "planted"}).status_code == 302
    err(a.post("/api/users", json={"username": "yuexiu", "password": "long-enough-1", "role": "planner"},
               headers=a.h), 409)
    for bad in ({"username": "x", "password": "short", "role": "planner"},
                {"username": "x", "password": "long-enough-1", "role": "boss"},
                {"username": "x", "password": "long-enough-1", "role": "district"},               # no district
                {"username": "x", "password": "long-enough-1", "role": "district", "adcode": "440100"},  # a city
                {"username": "x", "password": "long-enough-1", "role": "planner", "adcode": "440106"},  # a district
                {"username": "<b>x</b>", "password": "long-enough-1", "role": "planner"},
                {"username": "x", "password": 12345678, "role": "planner"},
                {"username": "x", "password": "long-enough-1", "role": "planner", "is_admin": True}):
        err(a.post("/api/users", json=bad, headers=a.h), 400)
    # a district union logged in, then deactivated: its next request is anonymous
    t = client_for(app, "tianhe")
    assert t.get("/api/proposals").status_code == 200
    tianhe = next(u for u in listed if u["username"] == "tianhe")
    assert a.patch(f"/api/users/{tianhe['id']}", json={"active": False}, headers=a.h).get_json()["active"] is False
    err(t.get("/api/proposals"), 401)
    # password reset: the old one stops working, and sessions logged in with it end
    y = app.test_client()
    with y.session_transaction() as sess:
        sess["csrf"] = "planted"
    y.post("/login", data={"username": "yuexiu", "password": "long-enough-1", "csrf_token": "planted"})
    assert y.get("/api/me").get_json()["user"]["username"] == "yuexiu"
    a.patch(f"/api/users/{uid}", json={"password": "brand-new-pass"}, headers=a.h)
    assert reg.check_user("yuexiu", "long-enough-1") is None and reg.check_user("yuexiu", "brand-new-pass")
    assert y.get("/api/me").get_json()["user"] is None
    assert "session_tag" not in json.dumps(a.get("/api/me").get_json())
    # an admin changing their own password stays logged in here (other sessions end)
    other = client_for(app, "admin1")
    me_id = next(u["id"] for u in listed if u["username"] == "admin1")
    assert a.patch(f"/api/users/{me_id}", json={"password": "admin-new-pass"}, headers=a.h).status_code == 200
    assert a.get("/api/me").get_json()["user"]["username"] == "admin1"
    assert other.get("/api/me").get_json()["user"] is None
    # role change: a planner becomes a city planner, then a district union needs a district
    p = a.patch(f"/api/users/{uid}", json={"role": "planner", "adcode": "440100"}, headers=a.h).get_json()
    assert (p["role"], p["adcode"]) == ("planner", "440100")
    err(a.patch(f"/api/users/{uid}", json={"role": "district"}, headers=a.h), 400)
    me = next(u for u in listed if u["username"] == "admin1")
    err(a.patch(f"/api/users/{me['id']}", json={"active": False}, headers=a.h), 409)
    err(a.patch(f"/api/users/{me['id']}", json={"role": "planner"}, headers=a.h), 409)
    err(a.patch("/api/users/99999", json={"active": False}, headers=a.h), 404)
    err(a.patch(f"/api/users/{uid}", json={"active": "no"}, headers=a.h), 400)


def test_last_admin_cannot_be_removed(reg) -> None:
    from yizhan.stations import RegistryError

    uid = int(reg.users().set_index("username").loc["admin1", "id"])
    with pytest.raises(RegistryError):
        reg.update_user(uid, active=False)
    with pytest.raises(RegistryError):
        reg.update_user(uid, role="planner")
    second = reg.create_user("admin2", PASSWORD, "admin")
    assert reg.update_user(uid, role="planner")["role"] == "planner"
    with pytest.raises(RegistryError):
        reg.update_user(second, active=False)
