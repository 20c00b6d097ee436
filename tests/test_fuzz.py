"""Property-based fuzzing of the JSON API against its own OpenAPI document (schemathesis, in-process).

Every operation of ``/openapi.json`` is fuzzed twice through the WSGI app — anonymously, and as a
logged-in admin (session cookie plus the session's CSRF token in ``X-CSRF-Token``) so that the
login-only operations are exercised past the auth check — with schema-valid and schema-invalid
input (schemathesis' examples, coverage and fuzzing phases).  Every answer must be no 5xx, have a
documented status code and content type and match the documented response schema; input that
breaks the schema must be refused with a 4xx.  A handler that raises fails the test with its
traceback (TESTING propagates exceptions).

Bounded and deterministic: ``derandomize``, no example database, MAX_EXAMPLES generated cases per
operation and run (plus schemathesis' fixed boundary and example cases), a tiny data set (three
stations, 60 hotspots, no road network: ``metric=network`` answers the documented 409; the highway
file of :mod:`test_corridors_cli` for ``/api/corridors``).  One pytest
item per operation and run, so a failure names the operation: ``test_admin[POST /api/stations][admin1]``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import STATION_ROWS, write_csv
from test_corridors_cli import write_osm

try:
    import schemathesis
    from hypothesis import HealthCheck, assume, settings
    from schemathesis import checks as st_checks
except ImportError as exc:                      # a test dependency (pyproject extra "test"): never skipped in CI
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"schemathesis is not installed: {exc}", pytrace=False)
    pytest.skip(f"schemathesis is not installed: {exc}", allow_module_level=True)

from yizhan.app import create_app
from yizhan.stations import import_stations_file, model
from yizhan.web.openapi import document

PASSWORD = "secret-pass-1"
#: Generated cases per operation and run; with the explicit cases about 9 000 requests, ~2 minutes.
MAX_EXAMPLES = 25
CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance, st_checks.content_type_conformance,
          st_checks.response_schema_conformance, st_checks.negative_data_rejection]
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                HealthCheck.data_too_large, HealthCheck.large_base_example])

_STATION = {"name": "体育西路快递员之家", "type": "快递员之家", "lon": 113.3210, "lat": 23.1400,
            "hours": "08:00-20:00", "services": ["饮水", "充电"], "capacity": 8}
#: Valid requests (explicit examples) so that reads find something and the logged-in run's writes
#: succeed, not only fail validation: (method, path) -> path parameters and JSON body.
EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/api/stations/{station_id}"): {"path": {"station_id": "T1"}},
    ("post", "/api/stations"): {"body": _STATION},
    ("patch", "/api/stations/{station_id}"): {"path": {"station_id": "T1"}, "body": {"hours": "24h", "note": "fuzz"}},
    ("put", "/api/stations/{station_id}"): {"path": {"station_id": "T2"},
                                            "body": {**_STATION, "name": "琶洲驿站", "lon": 113.3650, "lat": 23.1000}},
    ("delete", "/api/stations/{station_id}"): {"path": {"station_id": "T3"}, "body": {"note": "fuzz"}},
    ("post", "/api/proposals"): {"body": {"lon": 113.2800, "lat": 23.1300, "name": "荔湾驿站", "type": "司机之家"}},
    ("get", "/api/proposals/{pid}"): {"path": {"pid": 1}},
    ("post", "/api/proposals/{pid}/review"): {"path": {"pid": 1}, "body": {"accept": True, "comment": "ok"}},
    ("post", "/api/proposals/{pid}/build"): {"path": {"pid": 1}},
    ("get", "/api/history/{history_id}"): {"path": {"history_id": 1}},
    ("post", "/api/history/{history_id}/undo"): {"path": {"history_id": 1}, "body": {"force": True}},
    ("post", "/api/users"): {"body": {"username": "gz-planner", "password": "long-enough-1", "role": "planner",
                                      "adcode": "440100"}},
    ("patch", "/api/users/{user_id}"): {"path": {"user_id": 2}, "body": {"role": "district", "adcode": "440106"}},
}


def _fuzz_document(*, logged_in: bool) -> dict:
    """The served document with the EXAMPLES.  The logged-in run sends the session cookie and the
    CSRF token itself, so there they are not generated (no security scheme, no CSRF parameter)."""
    doc = copy.deepcopy(document())
    if logged_in:
        del doc["components"]["securitySchemes"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            example = EXAMPLES.get((method, path), {})
            params = []
            for p in op.get("parameters", []):
                if logged_in and p.get("$ref") == "#/components/parameters/csrf":
                    continue
                if p.get("name") in example.get("path", {}):
                    p = {**p, "example": example["path"][p["name"]]}     # (parameter objects are shared)
                params.append(p)
            op["parameters"] = params
            if logged_in:
                op.pop("security", None)
            if "body" in example:
                op["requestBody"]["content"]["application/json"]["example"] = example["body"]
    return doc


ANON = schemathesis.openapi.from_dict(_fuzz_document(logged_in=False))
ADMIN = schemathesis.openapi.from_dict(_fuzz_document(logged_in=True))


def _slow(case) -> bool:
    """Hourly coverage with the grid metric at res 10-11 takes seconds per parameter set (24
    analyses): left out to keep the run bounded (the other resolutions and metrics are fuzzed)."""
    query = case.query or {}
    return (case.operation.path == "/api/coverage/hourly" and query.get("metric") == "grid"
            and str(query.get("res")) in ("10", "11"))


def _hotspots(path: Path) -> Path:
    """60 demand points over central Guangzhou, at every hour, of every worker group."""
    rows = ["lon,lat,weight,time,group"]
    for i in range(60):
        lon, lat = 113.25 + (i * 37 % 60) * 0.004, 23.08 + (i * 23 % 60) * 0.004
        rows.append(f"{lon:.4f},{lat:.4f},{1 + i % 3},2024-05-06T{i % 24:02d}:{i % 60:02d}:00,"
                    f"{model.GROUPS[i % len(model.GROUPS)]}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("YIZHAN_"):
                mp.delenv(key, raising=False)
        tmp = tmp_path_factory.mktemp("fuzz")
        (tmp / "home").mkdir()
        app = create_app({"HOME": str(tmp / "home"), "TESTING": True, "RATE_LIMIT_ENABLED": False,
                          "HOTSPOTS_FILE": str(_hotspots(tmp / "hot.csv")),
                          "HIGHWAYS_FILE": str(write_osm(tmp / "highways.osm"))})
    reg = app.extensions["yizhan"].registry
    import_stations_file(reg, write_csv(tmp / "s.csv", STATION_ROWS), user="seed")
    reg.create_user("admin1", PASSWORD, "admin")
    return app


class Login:
    """The session cookie and CSRF header of an account logged in through the form."""

    def __init__(self, app, username: str) -> None:
        self.app, self.username = app, username
        self.refresh()

    def refresh(self) -> None:
        """Log in (again): the run may have reset this account's password, which ends its sessions."""
        client = self.app.test_client()
        with client.session_transaction() as s:
            s["csrf"] = "planted"
        form = {"username": self.username, "password": PASSWORD, "csrf_token": "planted"}
        if client.post("/login", data=form).status_code != 302:
            reg = self.app.extensions["yizhan"].registry
            reg.update_user(int(reg.users().set_index("username").loc[self.username, "id"]), password=PASSWORD)
            assert client.post("/login", data=form).status_code == 302
        me = client.get("/api/me").get_json()
        assert me["user"]["username"] == self.username
        self.cookies = {"session": client.get_cookie("session").value}
        self.headers = {"X-CSRF-Token": me["csrf"]}


@pytest.fixture(scope="module")
def admin(fuzz_app) -> Login:
    return Login(fuzz_app, "admin1")


def test_the_fuzzed_document_is_the_served_one(fuzz_app) -> None:
    served = fuzz_app.test_client().get("/openapi.json").get_json()
    assert served == document()
    operations = {(method, path) for path, item in served["paths"].items() for method in item}
    assert len(operations) >= 30 and set(EXAMPLES) <= operations
    for schema in (ANON, ADMIN):
        assert {(op.ok().method, op.ok().path) for op in schema.get_all_operations()} == operations


# The ``user`` parameter also puts the operation into the node id: under pytest 9, schemathesis'
# per-operation items only get ``test_x[GET /api/...]`` node ids when the test is parametrized.
@pytest.mark.parametrize("user", [None], ids=["anonymous"])
@ANON.parametrize()
@FUZZ_SETTINGS
def test_anonymous(case, fuzz_app, user) -> None:
    assume(not _slow(case))
    case.call_and_validate(app=fuzz_app, checks=CHECKS)


@pytest.mark.parametrize("user", ["admin1"])      # (the ``admin`` fixture's account)
@ADMIN.parametrize()
@FUZZ_SETTINGS
def test_admin(case, fuzz_app, admin, user) -> None:
    assume(not _slow(case))
    resp = case.call(app=fuzz_app, cookies=admin.cookies, headers=admin.headers)
    if case.operation.path == "/api/users/{user_id}" and resp.status_code == 200:
        admin.refresh()                 # the case may have reset this account's password
    case.validate_response(resp, checks=CHECKS, headers=admin.headers)


# -- what the fuzzer found, pinned ----------------------------------------------------------------------
def test_import_with_an_unnamed_form_part_is_a_400(fuzz_app, admin) -> None:
    """A multipart part without a readable name (``name="\\n"``, a file without a name) came back
    as the key None: a TypeError, 500."""
    client = fuzz_app.test_client()
    client.set_cookie("session", admin.cookies["session"])
    for part in ('name="\n"', 'filename="x.csv"'):
        body = (f'--b\r\nContent-Disposition: form-data; {part}\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; '
                f'name="file"; filename="s.csv"\r\n\r\nid\r\n--b--\r\n').encode()
        resp = client.post("/api/stations/import", data=body, headers=admin.headers,
                           content_type="multipart/form-data; boundary=b")
        assert resp.status_code == 400, resp.get_data(as_text=True)
        assert "unknown field" in resp.get_json()["error"]["en"]
