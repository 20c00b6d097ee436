"""Permissions as one matrix: every role (anonymous, district union, planner, admin) x every route and
method of the app.  Every route must be listed in ACCESS (a new route without a rule fails the
test); a role below the rule gets 401 (anonymous, API) / a login redirect (pages) or 403; a role
that may pass gets past the check (its deliberately invalid body then answers 400).  Without the
CSRF token every state-changing request is refused, even for an admin with a valid body.  Nothing
in the registry, the history, the accounts or the proposals changes along the way."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from conftest import STATION_HEADER, STATION_ROWS, write_csv

from yizhan.app import create_app
from yizhan.stations import import_stations_file
from yizhan.stations import proposals as props

PASSWORD = "secret-pass-1"
pytestmark = pytest.mark.databases         # every test on SQLite and on PostgreSQL
ROLES = (None, "district", "planner", "admin")
RANK = {None: 0, "district": 1, "planner": 2, "admin": 3}
#: Who may use each (method, rule): public, login (any account), district (district union and up:
#: every account), planner (planner and admin), admin.
ACCESS: dict[tuple[str, str], str] = {
    ("GET", "/"): "public", ("GET", "/nearest"): "public", ("GET", "/proposals"): "login",
    ("GET", "/registry"): "planner", ("GET", "/registry/waiting"): "planner", ("GET", "/admin/users"): "admin",
    ("GET", "/login"): "public", ("POST", "/login"): "public", ("POST", "/logout"): "public",
    ("GET", "/openapi.json"): "public", ("GET", "/static/<path:filename>"): "public",
    ("GET", "/api/stations"): "public", ("POST", "/api/stations"): "planner",
    ("GET", "/api/stations/<string(maxlength=200):station_id>"): "public",
    ("PATCH", "/api/stations/<string(maxlength=200):station_id>"): "planner",
    ("PUT", "/api/stations/<string(maxlength=200):station_id>"): "planner",
    ("DELETE", "/api/stations/<string(maxlength=200):station_id>"): "planner",
    ("POST", "/api/stations/import"): "planner",
    ("GET", "/api/nearest"): "public", ("GET", "/api/health"): "public", ("GET", "/api/me"): "public",
    ("GET", "/api/boundaries"): "public",
    ("GET", "/api/coverage/cells"): "public", ("GET", "/api/coverage/blank-spots"): "public",
    ("GET", "/api/coverage/blind-zones"): "public", ("GET", "/api/coverage/summary"): "public",
    ("GET", "/api/coverage/hourly"): "public", ("GET", "/api/coverage/download"): "public",
    ("GET", "/api/impact"): "public", ("GET", "/api/siting"): "public", ("GET", "/api/corridors"): "public",
    ("GET", "/api/proposals"): "login", ("POST", "/api/proposals"): "district",
    ("GET", "/api/proposals/<int(max=2147483647):pid>"): "login",
    ("POST", "/api/proposals/<int(max=2147483647):pid>/review"): "planner",
    ("POST", "/api/proposals/<int(max=2147483647):pid>/build"): "planner",
    ("GET", "/api/history"): "planner", ("GET", "/api/history/<int(max=2147483647):history_id>"): "planner",
    ("POST", "/api/history/<int(max=2147483647):history_id>/undo"): "planner",
    ("POST", "/api/history/batches/<string(maxlength=40):batch>/undo"): "planner",
    ("GET", "/api/users"): "admin", ("POST", "/api/users"): "admin",
    ("PATCH", "/api/users/<int(max=2147483647):user_id>"): "admin",
    ("GET", "/api/datasets"): "login", ("POST", "/api/datasets"): "planner",
    ("PATCH", "/api/datasets/<int(max=2147483647):dataset_id>"): "planner",
    ("DELETE", "/api/datasets/<int(max=2147483647):dataset_id>"): "planner",
    ("GET", "/api/report"): "login", ("GET", "/datasets"): "planner",
    ("GET", "/api/coverage/compare"): "login", ("GET", "/api/targets"): "login",
}
NEEDS = {"public": 0, "login": 1, "district": 1, "planner": 2, "admin": 3}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
NEW = {"name": "新驿站", "type": "工会爱心驿站", "lon": 113.3210, "lat": 23.1400}


@pytest.fixture
def world(home: Path, tmp_path: Path, database_url):
    """An app with stations (one import batch), one account per role and a Haizhu proposal."""
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, "DATABASE_URL": database_url})
    reg = app.extensions["yizhan"].registry
    batch = import_stations_file(reg, write_csv(tmp_path / "s.csv", STATION_ROWS), user="seed")["batch"]
    ids = {name: reg.create_user(name, PASSWORD, role, adcode=code) for name, role, code in (
        ("admin1", "admin", ""), ("plan1", "planner", ""), ("tianhe", "district", "440106"),
        ("haizhu", "district", "440105"))}
    other = props.submit(reg, {"username": "haizhu", "role": "district", "adcode": "440105"}, lon=113.3300,
                         lat=23.0950, name="海珠驿站", type="工会爱心驿站")
    own = props.submit(reg, {"username": "tianhe", "role": "district", "adcode": "440106"}, lon=113.3300,
                       lat=23.1300, name="天河驿站", type="工会爱心驿站")
    values = {"station_id": "T1", "pid": own["id"], "other_pid": other["id"], "history_id": int(reg.history("T1").iloc[0]["id"]),
              "batch": batch, "user_id": ids["haizhu"], "filename": "yizhan.css",
              "dataset_id": 1}
    return app, reg, values


ACCOUNT = {None: None, "district": "tianhe", "planner": "plan1", "admin": "admin1"}


def client_for(app, role: str | None):
    client = app.test_client()
    with client.session_transaction() as s:
        s["csrf"] = "planted"
    if role:
        resp = client.post("/login", data={"username": ACCOUNT[role], "password": PASSWORD, "csrf_token": "planted"})
        assert resp.status_code == 302
    client.token = client.get("/api/me").get_json()["csrf"] or "planted"
    return client


def url_of(rule: str, values: dict) -> str:
    return re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule)


def state(reg) -> str:
    """Everything a refused request must leave alone."""
    from sqlalchemy import text

    with reg.engine.connect() as conn:
        tables = {t: conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
                  for t in ("stations", "station_history", "users", "proposals", "proposal_history")}
    return json.dumps({t: [list(map(str, r)) for r in rows] for t, rows in tables.items()}, ensure_ascii=False)


def routes(app) -> list[tuple[str, str]]:
    return sorted({(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}})


def test_every_route_has_an_access_rule(world) -> None:
    app, _, _ = world
    assert set(routes(app)) == set(ACCESS)


def _invalid_request(client, method: str, url: str, *, token: str | None):
    """The request with a body every handler refuses (an unknown member / no file)."""
    headers = {"X-CSRF-Token": token} if token else {}
    if method == "GET":
        return client.get(url)
    if url == "/login":
        return client.post(url, data={"username": "nobody", "password": "x", "csrf_token": token or ""})
    if url == "/logout":
        return client.post(url, data={"csrf_token": token or ""})
    if url.endswith("/import"):
        return client.post(url, data={"zz_unknown": "1"}, headers=headers, content_type="multipart/form-data")
    return client.open(url, method=method, json={"zz_unknown": 1}, headers=headers)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_role_by_route_matrix(world, role) -> None:
    app, reg, values = world
    client = client_for(app, role)
    before = state(reg)
    checked = 0
    for method, rule in routes(app):
        if rule == "/logout":
            continue                                   # logging out ends the session: checked below
        url = url_of(rule, values)
        resp = _invalid_request(client, method, url, token=client.token)
        allowed = RANK[role] >= NEEDS[ACCESS[(method, rule)]]
        where = f"{role or 'anonymous'} {method} {url} -> {resp.status_code}"
        if allowed and (method, url) == ("POST", "/login"):      # a wrong password: the form again, 401
            assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True), where
        elif allowed:
            assert resp.status_code not in (401, 403, 405, 500), where
            if method in UNSAFE and url != "/login":
                assert resp.status_code in (400, 415), where       # got past the check, refused the body
        elif url.startswith("/api/"):
            assert resp.status_code == (401 if role is None else 403), where
            assert resp.get_json()["error"]["en"]
        elif role is None:
            assert resp.status_code == 302 and "/login" in resp.headers["Location"], where
        else:
            assert resp.status_code == 403, where
        checked += 1
    assert checked == len(ACCESS) - 1
    assert state(reg) == before
    assert client.post("/logout", data={"csrf_token": client.token}).status_code == 302


def _valid_request(client, method: str, rule: str, values: dict, *, headers: dict):
    url = url_of(rule, values)
    if url == "/logout":
        return client.post(url, headers=headers)
    if url.endswith("/import"):
        csv = (STATION_HEADER + STATION_ROWS[0].replace("T1", "T7").replace("113.3245", "113.30") + "\n").encode()
        return client.post(url, data={"file": (io.BytesIO(csv), "x.csv")}, headers=headers,
                           content_type="multipart/form-data")
    body = {
        ("POST", "/api/stations"): NEW,
        ("PUT", "station"): {**NEW, "lon": 113.3245, "lat": 23.1375},
        ("PATCH", "station"): {"hours": "24h"},
        ("POST", "review"): {"accept": True},
        ("POST", "/api/proposals"): {"lon": 113.3245, "lat": 23.1375, "name": "x", "type": "工会爱心驿站"},
        ("POST", "/api/users"): {"username": "newbie", "password": "long-enough-1", "role": "planner"},
        ("PATCH", "users"): {"active": False},
    }
    key = (method, "station" if "station_id" in rule else "review" if rule.endswith("/review") else
           "users" if "user_id" in rule else url)
    return client.open(url, method=method, json=body.get(key, {}), headers=headers)


@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["no-token", "wrong-token"])
def test_state_changing_requests_without_the_csrf_token_are_refused(world, token) -> None:
    app, reg, values = world
    client = client_for(app, "admin")
    before = state(reg)
    unsafe = [(m, r) for m, r in routes(app) if m in UNSAFE and r != "/login"]
    assert len(unsafe) >= 13
    for method, rule in unsafe:
        headers = {"X-CSRF-Token": token} if token else {}
        resp = _valid_request(client, method, rule, values, headers=headers)
        assert resp.status_code == 403, (method, rule, resp.status_code)
    assert state(reg) == before
    assert client.get("/api/me").get_json()["user"]["username"] == "admin1"      # logout refused too
    # the same requests with the token do pass (so the 403s above were the token's doing)
    resp = _valid_request(client, "PATCH", "/api/stations/<string(maxlength=200):station_id>", values,
                          headers={"X-CSRF-Token": client.token})
    assert resp.status_code == 200


def test_a_district_union_cannot_touch_another_district(world) -> None:
    app, reg, values = world
    tianhe = client_for(app, "district")
    h = {"X-CSRF-Token": tianhe.token}
    before = state(reg)
    in_haizhu = {"lon": 113.3300, "lat": 23.0950, "name": "越界", "type": "工会爱心驿站"}
    resp = tianhe.post("/api/proposals", json=in_haizhu, headers=h)
    assert resp.status_code == 403 and resp.get_json()["error"]["field"] == "lon"
    assert tianhe.get(f"/api/proposals/{values['other_pid']}").status_code == 403
    assert tianhe.post(f"/api/proposals/{values['other_pid']}/review", json={"accept": False},
                       headers=h).status_code == 403
    assert [p["name"] for p in tianhe.get("/api/proposals").get_json()] == ["天河驿站"]
    assert "海珠驿站" not in tianhe.get("/proposals").get_data(as_text=True)
    assert tianhe.patch("/api/stations/T2", json={"hours": "24h"}, headers=h).status_code == 403
    assert state(reg) == before
    own = tianhe.post("/api/proposals", json={**in_haizhu, "lon": 113.3245, "lat": 23.1375}, headers=h)
    assert own.status_code == 201 and own.get_json()["adcode"] == "440106"
    haizhu = app.test_client()
    with haizhu.session_transaction() as s:
        s["csrf"] = "t"
    haizhu.post("/login", data={"username": "haizhu", "password": PASSWORD, "csrf_token": "t"})
    assert haizhu.get(f"/api/proposals/{own.get_json()['id']}").status_code == 403


def test_anonymous_writes_never_reach_the_registry(world) -> None:
    app, reg, values = world
    anon = client_for(app, None)
    before = state(reg)
    for method, rule in routes(app):
        if method in UNSAFE and rule not in ("/login", "/logout"):
            resp = _valid_request(anon, method, rule, values, headers={"X-CSRF-Token": anon.token})
            assert resp.status_code == 401, (method, rule, resp.status_code)
    assert state(reg) == before
