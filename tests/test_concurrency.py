"""Concurrent edits lose nothing — on SQLite and on PostgreSQL.

* ETag / If-Match semantics of ``/api/stations/<id>`` (Flask test client): the version is the ETag,
  a stale ``If-Match`` is refused with 412 and the station as it is now, nothing written.
* Real concurrency: the production server (``yizhan serve --production``: gunicorn, 2 worker
  processes x 8 threads) on the test's database, and real client threads over loopback HTTP, each
  with its own login session:
  - 16 clients edit 16 different stations at once, several times each, each edit conditional on
    the version it got back from the previous one: every edit succeeds and every change is there;
  - two clients edit the same station at once from the same version, round after round: exactly
    one succeeds, the other gets 412 with the winner's values; the loser's value is never stored;
  - 8 clients change 8 different fields of one station at once without If-Match: every change is
    there (an edit is re-read and re-validated when another landed meanwhile).
  Expectations are computed from what the clients sent, and the registry is read back directly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import STATION_ROWS, cli_env, url_for, write_csv

from yizhan.app import create_app
from yizhan.stations import import_stations_file

pytestmark = pytest.mark.databases

PASSWORD = "secret-pass-1"
N_CLIENTS = 16
EDITS_EACH = 5


# -- If-Match semantics ----------------------------------------------------------------------------------
@pytest.fixture
def app(home: Path, tmp_path: Path, database_url):
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, "DATABASE_URL": database_url})
    reg = app.extensions["yizhan"].registry
    import_stations_file(reg, write_csv(tmp_path / "s.csv", STATION_ROWS), user="seed")
    reg.create_user("plan1", PASSWORD, "planner")
    return app


def _client(app):
    client = app.test_client()
    with client.session_transaction() as s:
        s["csrf"] = "planted"
    assert client.post("/login", data={"username": "plan1", "password": PASSWORD, "csrf_token": "planted"}).status_code == 302
    client.h = {"X-CSRF-Token": client.get("/api/me").get_json()["csrf"]}
    return client


def _state(reg) -> tuple:
    frame = reg.stations()
    return json.dumps(frame.astype(str).to_dict("records"), ensure_ascii=False), len(reg.history(limit=10_000))


def test_etag_is_the_version_and_a_stale_if_match_is_412(app) -> None:
    reg = app.extensions["yizhan"].registry
    c = _client(app)
    got = c.get("/api/stations/T1")
    assert got.status_code == 200 and got.headers["ETag"] == '"1"' and got.get_json() == reg.get("T1")
    ok = c.patch("/api/stations/T1", json={"hours": "24h"}, headers={**c.h, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"' and reg.get("T1").version == 2
    assert c.get("/api/stations/T1").headers["ETag"] == '"2"'
    before = _state(reg)
    for stale in ('"1"', 'W/"2"', '"2x"', '"9", "1"', ""):          # older, weak, other, a list without it, empty
        resp = c.patch("/api/stations/T1", json={"phone": "020-1"}, headers={**c.h, "If-Match": stale})
        assert resp.status_code == 412, (stale, resp.get_data(as_text=True))
        e = resp.get_json()["error"]
        assert e["status"] == 412 and e["zh"] and e["en"] and "T1" in e["en"]
        assert e["current"] == reg.get("T1") and e["current"]["hours"] == "24h" and e["version"] == 2
        assert resp.headers["ETag"] == '"2"'
    assert _state(reg) == before                                       # nothing written
    # a list naming the current version, and "*", pass
    assert c.patch("/api/stations/T1", json={"phone": "020-1"}, headers={**c.h, "If-Match": '"7", "2"'}).status_code == 200
    assert c.put("/api/stations/T1", json={"name": "新名字", "type": "工会爱心驿站", "lon": 113.3245, "lat": 23.1375},
                 headers={**c.h, "If-Match": "*"}).headers["ETag"] == '"4"'
    # no change: no new version
    same = c.patch("/api/stations/T1", json={"name": "新名字"}, headers={**c.h, "If-Match": '"4"'})
    assert same.status_code == 200 and same.headers["ETag"] == '"4"' and reg.get("T1").version == 4
    # DELETE: refused while stale, done with the current version
    assert c.delete("/api/stations/T2", headers={**c.h, "If-Match": '"0"'}).status_code == 412 and reg.get("T2")
    assert c.delete("/api/stations/T2", headers={**c.h, "If-Match": '"1"'}).status_code == 200 and not reg.get("T2")
    # undo brings T2 back with a version no ETag of its first life can match
    entry = reg.history("T2", limit=1).iloc[0]
    assert c.post(f"/api/history/{int(entry['id'])}/undo", headers=c.h).status_code == 200
    assert reg.get("T2").version == 3                                 # create, delete: 2 history rows before
    assert c.patch("/api/stations/T2", json={"hours": "24h"}, headers={**c.h, "If-Match": '"1"'}).status_code == 412
    # created stations answer their ETag; an unknown station is 404 with or without If-Match
    new = c.post("/api/stations", json={"name": "新站", "type": "快递员之家", "lon": 113.30, "lat": 23.12}, headers=c.h)
    assert new.status_code == 201 and new.headers["ETag"] == '"1"'
    assert c.patch("/api/stations/NOPE", json={"hours": "24h"}, headers={**c.h, "If-Match": '"1"'}).status_code == 404


def test_a_change_between_read_and_write_is_caught_in_the_transaction(app) -> None:
    """The registry itself compares the version under its write lock: an edit computed on version
    1 cannot be written over version 2 even when the web layer's check has already passed."""
    from yizhan.stations import StaleStation

    reg = app.extensions["yizhan"].registry
    first = reg.get("T3")
    reg.update_station("T3", {"hours": "24h"}, user="other", expected_version=first.version)
    with pytest.raises(StaleStation) as stale:
        reg.update_station("T3", {"phone": "020-7"}, user="late", expected_version=first.version)
    assert stale.value.current == reg.get("T3") and stale.value.current.version == 2
    assert reg.get("T3")["phone"] == "" and reg.history("T3", limit=1).iloc[0]["user"] == "other"
    with pytest.raises(StaleStation):
        reg.delete_station("T3", expected_version=1)
    assert reg.get("T3") is not None


# -- real concurrency: the production server and client threads -------------------------------------------
def _rows(n: int) -> list[str]:
    """n stations 600 m apart on a lattice in Tianhe/Yuexiu (no two near-duplicates)."""
    return [f"C{i:02d},并发站{i},工会爱心驿站,广州市,饮水,08:00-20:00,4,,在运营,{113.26 + (i % 4) * 0.006:.4f},"
            f"{23.12 + (i // 4) * 0.006:.4f}" for i in range(n)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(home: Path, tmp_path: Path, database_url):
    """The production server (gunicorn, 2 workers x 8 threads) on a home with STATION_ROWS plus
    16 stations and 18 planner accounts; yields (base URL, registry)."""
    from yizhan.stations.storage import Registry

    url = url_for(database_url, home)
    reg = Registry(url)
    import_stations_file(reg, write_csv(tmp_path / "s.csv", STATION_ROWS + _rows(N_CLIENTS)), user="seed")
    for i in range(N_CLIENTS + 2):
        reg.create_user(f"p{i:02d}", PASSWORD, "planner")
    port = _free_port()
    log = tmp_path / "server.log"          # gunicorn's own messages (worker timeouts, crashes): shown below
    env = {**os.environ, **cli_env(database_url), "YIZHAN_RATE_LIMIT_ENABLED": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "yizhan.cli", "--home", str(home), "serve", "--production",
                             "--port", str(port), "--workers", "2", "--threads", "8"], env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.time() + 120
        while True:
            try:
                if requests.get(base + "/api/health", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield base, reg
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        reg.engine.dispose()
        print("server log:", log.read_text(errors="replace")[-4000:])      # in the report when a test fails


def _session(base: str, username: str):
    import requests

    s = requests.Session()
    # a new connection per request: no request lands on a keep-alive connection the server is closing
    s.headers["Connection"] = "close"
    login = s.get(base + "/login", timeout=30)
    token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert s.post(base + "/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                  allow_redirects=False, timeout=30).status_code == 302
    s.headers["X-CSRF-Token"] = s.get(base + "/api/me", timeout=30).json()["csrf"]
    return s


def _run_threads(targets: list) -> None:
    """Start every target at once (a barrier) and re-raise the first failure."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target) -> None:  # noqa: ANN001
        try:
            barrier.wait(60)
            target()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not any(t.is_alive() for t in threads), "a client thread did not finish"
    if errors:
        raise errors[0]


@pytest.mark.slow
def test_sixteen_clients_editing_different_stations_lose_no_change(served) -> None:
    base, reg = served
    sessions = [_session(base, f"p{i:02d}") for i in range(N_CLIENTS)]
    answers: dict[int, list[int]] = {i: [] for i in range(N_CLIENTS)}

    def client(i: int):  # noqa: ANN202
        def edit() -> None:
            s, sid = sessions[i], f"C{i:02d}"
            etag = s.get(f"{base}/api/stations/{sid}", timeout=60).headers["ETag"]
            for k in range(EDITS_EACH):
                resp = s.patch(f"{base}/api/stations/{sid}", json={"capacity": 100 * i + k, "note": f"edit {k}"},
                               headers={"If-Match": etag}, timeout=120)
                answers[i].append(resp.status_code)
                assert resp.status_code == 200, resp.text
                etag = resp.headers["ETag"]
        return edit

    n_history = len(reg.history(limit=100_000))
    _run_threads([client(i) for i in range(N_CLIENTS)])
    assert all(codes == [200] * EDITS_EACH for codes in answers.values()), answers
    for i in range(N_CLIENTS):
        row = reg.get(f"C{i:02d}")
        assert row["capacity"] == 100 * i + EDITS_EACH - 1 and row.version == 1 + EDITS_EACH
        mine = reg.history(f"C{i:02d}", limit=100)
        edits = mine[mine["action"] == "update"]
        assert list(edits["user"]) == [f"p{i:02d}"] * EDITS_EACH
        assert [json.loads(a)["capacity"] for a in edits["after"]][::-1] == [100 * i + k for k in range(EDITS_EACH)]
    assert len(reg.history(limit=100_000)) == n_history + N_CLIENTS * EDITS_EACH
    assert {r["id"]: r["capacity"] for r in reg.stations().to_dict("records") if r["id"].startswith("T")} == \
           {"T1": 10, "T2": 6, "T3": 20}                                 # the others untouched


@pytest.mark.slow
def test_two_clients_editing_the_same_station_one_wins_the_other_is_told_it_is_stale(served) -> None:
    base, reg = served
    a, b = _session(base, "p00"), _session(base, "p01")
    rounds = 12
    for r in range(rounds):
        tags = [s.get(f"{base}/api/stations/T1", timeout=60).headers["ETag"] for s in (a, b)]
        assert tags[0] == tags[1] == f'"{1 + r}"'
        answers: dict[str, object] = {}

        def edit(name: str, s, hours: str, tag: str, answers: dict = answers):  # noqa: ANN001, ANN202
            def run() -> None:
                answers[name] = s.patch(f"{base}/api/stations/T1", json={"hours": hours},
                                        headers={"If-Match": tag}, timeout=120)
            return run

        wanted = {"a": f"0{r % 10}:00-20:00", "b": f"1{r % 10}:00-22:00"}
        _run_threads([edit("a", a, wanted["a"], tags[0]), edit("b", b, wanted["b"], tags[1])])
        codes = sorted(resp.status_code for resp in answers.values())
        assert codes == [200, 412], {k: (v.status_code, v.text[:300]) for k, v in answers.items()}
        winner = next(k for k, v in answers.items() if v.status_code == 200)
        loser = answers["b" if winner == "a" else "a"]
        now = reg.get("T1")
        assert now["hours"] == wanted[winner] and now.version == 2 + r        # the loser's value never stored
        err = loser.json()["error"]
        assert err["status"] == 412 and err["zh"] and err["en"]
        assert err["current"]["hours"] == wanted[winner] and err["version"] == now.version
        assert loser.headers["ETag"] == f'"{now.version}"'
    updates = reg.history("T1", limit=1000)
    assert (updates["action"] == "update").sum() == rounds


@pytest.mark.slow
def test_unconditional_edits_of_one_station_at_once_all_land(served) -> None:
    base, reg = served
    fields = {"hours": "06:00-23:00", "phone": "020-88888888", "address": "广州市天河区并发路 1 号", "host": "加油站",
              "services": "饮水、热饭、充电", "capacity": 42, "name": "并发站（改）", "groups": "外卖配送员、快递员"}
    sessions = {f: _session(base, f"p{i:02d}") for i, f in enumerate(fields)}
    codes: dict[str, int] = {}

    def edit(field: str):  # noqa: ANN202
        def run() -> None:
            resp = sessions[field].patch(f"{base}/api/stations/C05", json={field: fields[field]}, timeout=120)
            codes[field] = resp.status_code
            assert resp.status_code == 200, resp.text
        return run

    _run_threads([edit(f) for f in fields])
    row = reg.get("C05")
    assert {f: row[f] for f in fields} == fields and row.version == 1 + len(fields), (codes, row)
