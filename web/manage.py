"""Registry management API (blueprint ``manage``, prefix ``/api``): planners edit stations, import
files, read the change history and undo changes; admins manage accounts.

Who may do what (checked here, tested as a matrix in ``tests/test_permissions.py``):

* anonymous riders: read one station (``GET /api/stations/<id>``, with its version as the ``ETag``),
  nothing else here;
* planners and admins: create, edit and delete stations, import files, read the history and undo —
  a planner bound to a province or city (any in mainland China: 630000, 440100, 500100 …) only for
  stations inside it (see :func:`yizhan.stations.storage.scope_prefix`), before and after;
* admins: accounts (list, create, change role/scope/password, deactivate).

Every write is one registry transaction with a history row, goes through the same validation as
a file import (so a web edit cannot store what an import would refuse), needs the session's CSRF
token (see :mod:`yizhan.web.auth`) and refreshes the nearest-station index and coverage maps.

Stations waiting for a location (status 待定位, no coordinates) are placed with a ``PATCH``: ``lon``,
``lat`` (and ``crs``) put the station there (it keeps its stated district, so a point far from it is
refused; it takes the status it waits for, precision ``manual``); ``{"accept_candidate": true}`` puts
it at the geocoder's candidate, ``{"candidate": null}`` rejects the candidate.  A district union may
do just that for the waiting stations of its own district (and nothing else here).

Concurrent edits lose nothing (optimistic concurrency): ``GET /api/stations/<id>`` answers the
station's version as a strong ``ETag`` (``"3"``); ``PUT``/``PATCH``/``DELETE`` with ``If-Match``
change the station only while it is still at that version, else **412** with the station as it is
now (``error.current``, and its ``ETag``).  Without ``If-Match`` a PATCH is applied to the newest
state (re-read and re-validated when another change landed meanwhile).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from flask import Blueprint, current_app, request, session

from ..config import validation_options
from ..stations import ImportValidationError, RegistryError, StaleStation, UndoConflict, WriteConflict
from ..stations import model
from ..stations.storage import ROLES, Station
from .auth import current_user, in_scope, require, scope_prefix
from .errors import ApiError, args, bilingual, body, crs_param, integer, text_field
from .geo import candidate_of
from .geo import json_response as _json
from .services import services

bp = Blueprint("manage", __name__, url_prefix="/api")

EDITORS = ("planner", "admin")
#: Station fields a client may send (``crs`` says which datum lon/lat are in; ``note`` goes to history).
STATION_FIELDS = ("id", "name", "type", "groups", "address", "adcode", "host", "services", "hours", "capacity",
                  "phone", "status", "source", "lon", "lat")
#: PATCH members for a station waiting for a location (待定位): ``accept_candidate`` (true: place it at
#: the geocoder's candidate) and ``candidate`` (null: reject the candidate).
PLACING_MEMBERS = ("accept_candidate", "candidate")
#: What a district union may send (to place a waiting station of its own district, nothing else).
DISTRICT_MEMBERS = frozenset({"lon", "lat", "crs", "note", *PLACING_MEMBERS})
#: History notes of placing (when the request sends none).
PLACED_NOTE = "placed on the map"
ACCEPTED_NOTE = "accepted the geocoder's candidate"
REJECTED_NOTE = "rejected the geocoder's candidate"
HISTORY_ACTIONS = ("create", "update", "delete", "undo")
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".geojson", ".json")
MAX_PROBLEMS = 1000
_ID = re.compile(r"[^\s/\\\x00-\x1f\x7f]{1,64}")
_BATCH = re.compile(r"[0-9a-f]{32}")
#: A PATCH/PUT without If-Match is re-read and re-validated this often when other changes keep
#: landing between its read and its write (then 409).
UNCONDITIONAL_ATTEMPTS = 10


def _validation_error(exc: ImportValidationError, *, status: int = 400) -> ApiError:
    """An ApiError carrying the per-row/field problems of a rejected station or file."""
    err = ApiError(f"数据未通过校验，未写入任何内容：{exc.problems[0].zh if exc.problems else ''}",
                   f"validation failed, nothing was written: {exc.problems[0].en if exc.problems else ''}",
                   status=status, field=(exc.problems[0].column or None) if exc.problems else None)
    err.extra = {"problems": [p.as_dict() for p in exc.problems[:MAX_PROBLEMS]],
                 "problem_count": len(exc.problems)}
    return err


def _changed() -> None:
    """Stations changed through the app: the index and coverage maps see it at once."""
    services().invalidate()


def _check_scope(adcode: object, station_id: str = "") -> None:
    user = current_user()
    if not in_scope(user, adcode):
        area = user.get("adcode") or "-"
        raise ApiError(f"站点 {station_id} 不在您的辖区（{area}）内", f"station {station_id} is outside your area "
                       f"({area})", status=403)


def _waiting(station: dict[str, Any]) -> bool:
    """True for a station waiting for a location (status 待定位)."""
    return station.get("status") == model.STATUS_WAITING


def _check_station_scope(current: dict[str, Any], station_id: str) -> None:
    """The user may change ``current``: it lies in the user's area.  A waiting station of no known
    district (adcode "") belongs to no area: any planner or admin may place it (the place must then
    lie in their area: checked on the result)."""
    if _waiting(current) and not str(current.get("adcode") or "") and current_user()["role"] in EDITORS:
        return
    _check_scope(current["adcode"], station_id)


def _district_union_may_place(station_id: str) -> None:
    """A district union may only place (PATCH) a waiting station of its own district: 403 for
    anything else, before the body is read."""
    denied = ApiError("区工会只能为本区的待定位站点标注位置", "a district union may only place stations waiting for a "
                      "location in its own district", status=403)
    if request.method != "PATCH":
        raise denied
    current = _station_or_404(station_id)
    if not _waiting(current) or not in_scope(current_user(), current["adcode"]):
        raise denied


def _station_or_404(station_id: str) -> Station:
    if not _ID.fullmatch(station_id):
        raise ApiError("站点编号无效", "invalid station id", field="id", status=404)
    row = services().registry.get(station_id)
    if row is None:
        raise ApiError(f"站点不存在：{station_id}", f"no such station: {station_id}", status=404)
    return row


def etag(version: int) -> str:
    """The strong entity tag of a station version."""
    return f'"{int(version)}"'


def _stale(exc: StaleStation) -> ApiError:
    """412 with the station as it is now (or 404 when it was deleted meanwhile)."""
    if exc.current is None:
        return ApiError(f"站点已被他人删除：{exc.station_id}", f"station {exc.station_id} was deleted by someone else",
                        status=404)
    err = _from_registry(exc, 412)
    err.extra = {"current": dict(exc.current), "version": exc.current.version}
    err.headers = {"ETag": etag(exc.current.version)}
    return err


def _if_match(current: Station) -> int | None:
    """The version an ``If-Match`` header allows the change on: None without the header (no
    condition), the current version for ``*`` or when one of its strong tags names it; 412 when
    it names only other (older) versions."""
    if "If-Match" not in request.headers:
        return None
    tags = request.if_match
    if tags.star_tag or tags.contains(str(current.version)):
        return current.version
    raise _stale(StaleStation(
        f"站点 {current['id']} 已被他人修改（当前版本 {current.version}），未保存：请重新载入后再改 / station "
        f"{current['id']} was changed by someone else (now version {current.version}, If-Match names another); "
        "nothing was saved: reload it and edit again", station_id=current["id"], current=current))


def _station_values(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Type-check the station members of a JSON body (validation proper happens on import)."""
    out: dict[str, Any] = {}
    for name in STATION_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name in ("lon", "lat"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ApiError(f"字段 {name} 应为数字", f"field {name} must be a number", field=name)
        elif name == "capacity":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ApiError("字段 capacity 应为整数或 null", "field capacity must be an integer or null",
                               field=name)
            if value is not None and not 0 <= value <= 1_000_000:
                raise ApiError("字段 capacity 超出范围", "field capacity out of range", field=name)
        elif name in ("groups", "services") and isinstance(value, list):
            if len(value) > 30 or not all(isinstance(v, str) and len(v) <= 50 for v in value):
                raise ApiError(f"字段 {name} 应为最多 30 个字符串的列表", f"field {name} must be a list of at most "
                               "30 strings", field=name)
        else:
            value = text_field(data, name, 500)
        out[name] = value
    if not partial:
        for name in ("name", "type", "lon", "lat"):
            if name not in out:
                raise ApiError(f"缺少字段 {name}", f"missing field {name}", field=name)
    return out


def _neighbours(values: dict[str, Any], crs: str) -> pd.DataFrame | None:
    """The registered stations that could be near duplicates of ``values`` (read through the
    location index, not the whole registry): those in a box 1 km wider than ``DUPLICATE_RADIUS_M``
    around the point, WGS-84."""
    from ..geodata.crs import to_wgs84

    try:
        wlon, wlat = (float(v) for v in to_wgs84(float(values["lon"]), float(values["lat"]), crs))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    radius = float(current_app.config["DUPLICATE_RADIUS_M"]) + 1000.0
    return services().registry.near(wlon, wlat, radius)


def _validated(values: dict[str, Any], *, crs: str) -> dict[str, Any]:
    """One station validated like an import row (400 with every problem otherwise)."""
    from ..stations.validate import prepare_record

    existing = _neighbours(values, crs)
    try:
        return prepare_record(values, crs=crs, existing=existing, **validation_options(current_app.config))
    except ImportValidationError as exc:
        raise _validation_error(exc) from None


# -- stations ---------------------------------------------------------------------------------------
@bp.route("/stations/<string(maxlength=200):station_id>", methods=["GET"])
def station_get(station_id: str):  # noqa: ANN201
    """One station (public), WGS-84; its version is the ``ETag``."""
    args(set())
    row = _station_or_404(station_id)
    return _json(row, headers={"ETag": etag(row.version)})


@bp.route("/stations", methods=["POST"])
@require(*EDITORS)
def station_create():  # noqa: ANN201
    """Register one station (201); same validation as an import; ``crs`` of lon/lat."""
    data = body(set(STATION_FIELDS) | {"crs", "note"})
    values = _station_values(data, partial=False)
    crs = crs_param({"crs": text_field(data, "crs", 10)})
    note = text_field(data, "note", 500)
    if values.get("id") and services().registry.get(str(values["id"])) is not None:
        raise ApiError(f"站点编号已存在：{values['id']}", f"station id exists: {values['id']}", status=409, field="id")
    row = _validated(values, crs=crs)
    if services().registry.get(row["id"]) is not None:
        raise ApiError(f"站点已存在：{row['id']}", f"station exists: {row['id']}", status=409, field="id")
    _check_scope(row["adcode"], row["id"])
    row["source"] = row["source"] or f"web:{current_user()['username']}"
    try:
        services().registry.import_frame(pd.DataFrame([row]), user=current_user()["username"],
                                         note=note or "web create", create_only=True)
    except WriteConflict:         # created a moment ago by someone else
        raise ApiError(f"站点已存在：{row['id']}", f"station exists: {row['id']}", status=409, field="id") from None
    _changed()
    created = services().registry.get(row["id"])
    return _json(created, 201, headers={"Location": f"/api/stations/{row['id']}", "ETag": etag(created.version)})


@bp.route("/stations/<string(maxlength=200):station_id>", methods=["PATCH", "PUT"])
@require("district", *EDITORS)
def station_update(station_id: str):  # noqa: ANN201
    """Change fields of one station (PATCH: only the fields sent; PUT: the whole station).

    A waiting station (待定位) is placed by a PATCH with ``lon``/``lat`` (``crs``), or with
    ``accept_candidate: true`` (the geocoder's candidate); ``candidate: null`` rejects the candidate.
    District unions may only do that, for their own district's waiting stations.

    With ``If-Match`` only while the station is at that version (412 otherwise); without it the
    change is applied to the newest state (re-read when another change landed meanwhile)."""
    district_union = current_user()["role"] not in EDITORS
    if district_union:
        _district_union_may_place(station_id)
    patch = request.method == "PATCH"
    data = body(set(STATION_FIELDS) | {"crs", "note"} | (set(PLACING_MEMBERS) if patch else set()))
    if district_union and set(data) - DISTRICT_MEMBERS:
        raise ApiError("区工会只能标注待定位站点的位置，不能修改其他字段", "a district union may only place a waiting station, "
                       "not change its other fields", status=403, field=sorted(set(data) - DISTRICT_MEMBERS)[0])
    current = _station_or_404(station_id)
    _check_station_scope(current, station_id)
    values = _station_values(data, partial=patch)
    if "id" in values and values["id"] != station_id:
        raise ApiError("不能修改站点编号", "the station id cannot be changed", field="id")
    crs = crs_param({"crs": text_field(data, "crs", 10)})
    if ("lon" in values) != ("lat" in values):
        raise ApiError("经度和纬度需同时提供", "send lon and lat together", field="lat" if "lon" in values else "lon")
    accept = data.get("accept_candidate", False)
    if not isinstance(accept, bool):
        raise ApiError("字段 accept_candidate 应为 true 或 false", "field accept_candidate must be true or false",
                       field="accept_candidate")
    if "candidate" in data and data["candidate"] is not None:
        raise ApiError("字段 candidate 只能为 null（拒绝候选位置）", "field candidate may only be null (reject the "
                       "candidate)", field="candidate")
    reject = "candidate" in data
    if accept and (reject or "lon" in values):
        raise ApiError("accept_candidate 不能与 candidate 或经纬度同时提供", "send accept_candidate without candidate, "
                       "lon and lat", field="accept_candidate")
    note = text_field(data, "note", 500)
    condition = _if_match(current)          # after the request's own checks (a malformed body stays a 400)
    for attempt in range(UNCONDITIONAL_ATTEMPTS):
        if attempt:
            current = _station_or_404(station_id)
            _check_station_scope(current, station_id)
        try:
            return _update(station_id, current, values, crs, note, accept=accept, reject=reject)
        except StaleStation as exc:     # changed between our read and our write
            if condition is not None or exc.current is None:
                raise _stale(exc) from None
    raise ApiError(f"站点 {station_id} 正被频繁修改，未保存，请重试", f"station {station_id} kept changing under this edit; "
                   "nothing was saved: try again", status=409)


def _accepted_candidate(current: Station) -> tuple[float, float, str]:
    """WGS-84 lon, lat and precision of the geocoder's candidate of a waiting station (400 when it
    has none, or one that only names the district)."""
    cand = candidate_of(current.get("candidate")) if _waiting(current) else None
    if cand is None:
        raise ApiError("该站点没有待确认的候选位置", "this station has no candidate location to accept",
                       field="accept_candidate")
    try:
        lon, lat = float(cand["lon"]), float(cand["lat"])
    except (KeyError, TypeError, ValueError):
        lon = lat = float("nan")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ApiError("候选位置的坐标无效，请在地图上标注", "the candidate has no usable coordinates: place the station "
                       "on the map", field="accept_candidate")
    precision = str(cand.get("precision") or "").strip().lower()
    if precision == "district":
        raise ApiError("候选位置只精确到行政区，请在地图上标注", "the candidate only names the district: place the station "
                       "on the map", field="accept_candidate")
    return lon, lat, precision if precision in model.PRECISIONS else ""


def _update(station_id: str, current: Station, values: dict[str, Any], crs: str, note: str, *,  # noqa: ANN202
            accept: bool = False, reject: bool = False):
    """Validate ``values`` merged into ``current`` and write the change on ``current.version``.

    A waiting station given coordinates (or ``accept`` of its candidate) is placed: it keeps its
    stated district (so the check against it applies; an empty one is found from the location),
    takes the status it waited for, precision ``manual`` (or the candidate's); ``reject`` clears
    its candidate."""
    _check_station_scope(current, station_id)
    waiting = _waiting(current)
    precision = "manual"
    if accept:
        lon, lat, precision = _accepted_candidate(current)
        values, crs = {**values, "lon": lon, "lat": lat}, "wgs84"
    # PATCH keeps the fields not sent; PUT replaces the station (fields not sent become empty)
    merged = {k: current[k] for k in STATION_FIELDS} if request.method == "PATCH" else {"adcode": ""}
    moved = "lon" in values
    placing = waiting and moved
    if not moved:
        crs = "wgs84"                 # the stored coordinates are WGS-84
    if "adcode" not in values and moved:
        # a moved station's district is found again from its location; a placed one keeps the
        # district it stated, so the point is checked against it
        merged["adcode"] = str(current.get("adcode") or "") if placing else ""
    merged.update(values)
    sent_status = model.normalize_status(str(values.get("status") or "")) if "status" in values else None
    if placing and (sent_status is None or sent_status == model.STATUS_WAITING):
        merged["status"] = current.get("located_status") or "在运营"
    elif waiting and not moved:       # still waiting: keep the status it waits for (a located one sent: that)
        merged["located_status"] = sent_status if sent_status in model.LOCATED_STATUSES else \
            (current.get("located_status") or "")
    merged["id"] = station_id
    merged["updated_at"] = ""         # stamped now by the validation
    row = _validated(merged, crs=crs)
    if not moved:                     # keep the coordinates as originally entered, and how exactly known
        row.update({k: current[k] for k in ("lon", "lat", "orig_lon", "orig_lat", "orig_crs", "precision")})
        row["candidate"] = "" if reject else (current.get("candidate") or "")
    if placing:
        from ..stations.geocode import placed_adcode

        row.update(precision=precision, located_status="", candidate="",
                   adcode=placed_adcode(str(row["adcode"] or ""), float(row["lon"]), float(row["lat"])))
        note = note or (ACCEPTED_NOTE if accept else PLACED_NOTE)
    elif reject:
        note = note or REJECTED_NOTE
    _check_scope(row["adcode"], station_id)
    changes = {k: v for k, v in row.items() if k != "id" and current.get(k) != v}
    if set(changes) <= {"updated_at"}:
        return _json(current, headers={"ETag": etag(current.version)})
    after = services().registry.update_station(station_id, changes, user=current_user()["username"],
                                               note=note or "web edit", expected_version=current.version)
    _changed()
    return _json(after, headers={"ETag": etag(after.version)})


@bp.route("/stations/<string(maxlength=200):station_id>", methods=["DELETE"])
@require(*EDITORS)
def station_delete(station_id: str):  # noqa: ANN201
    """Delete one station (kept in the history: undo restores it); with ``If-Match`` only while it
    is at that version (412 otherwise)."""
    data = body({"note"})
    current = _station_or_404(station_id)
    _check_scope(current["adcode"], station_id)
    note = text_field(data, "note", 500) or "web delete"
    condition = _if_match(current)
    try:
        services().registry.delete_station(station_id, user=current_user()["username"], note=note,
                                           expected_version=condition)
    except StaleStation as exc:
        raise _stale(exc) from None
    _changed()
    entry = services().registry.history(station_id, limit=1).iloc[0]
    return _json({"deleted": station_id, "history_id": int(entry["id"])})


@bp.route("/stations/import", methods=["POST"])
@require(*EDITORS)
def station_import():  # noqa: ANN201
    """Import a station file (multipart field ``file``: CSV/XLSX/GeoJSON) — all or nothing.

    Form fields: ``crs`` (wgs84/gcj02/bd09), ``encoding`` (auto), ``skip_bad_rows`` (0/1),
    ``dry_run`` (0/1: validate only).  Answers the counts and the batch id (undo it from the
    history), or 400 with every problem by row and column."""
    from ..stations import prepare_stations, read_table

    # a multipart part without a readable name (name="\n", no name) comes back with the key None
    form_keys = {k if isinstance(k, str) else "" for k in request.form}
    file_keys = {k if isinstance(k, str) else "" for k in request.files}
    unknown = sorted(form_keys - {"crs", "encoding", "skip_bad_rows", "dry_run", "csrf_token"})
    if unknown or file_keys - {"file"}:
        name = (unknown or sorted(file_keys - {"file"}))[0][:50]
        raise ApiError(f"未知字段：{name}", f"unknown field: {name}", field=name)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError("请上传文件（字段 file）", "upload a file (form field file)", field="file")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ApiError(f"不支持的文件类型 {suffix[:10] or '（无扩展名）'}：请上传 CSV、XLSX 或 GeoJSON",
                       f"unsupported file type {suffix[:10] or '(none)'}: upload CSV, XLSX or GeoJSON", field="file",
                       status=415)
    crs = crs_param({"crs": request.form.get("crs", "")})
    encoding = request.form.get("encoding", "").strip().lower() or "auto"
    if encoding not in ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"):
        raise ApiError("编码应为 auto、utf-8、gbk、gb18030 或 utf-16", "encoding must be auto, utf-8, gbk, gb18030 "
                       "or utf-16", field="encoding")
    flags = {}
    for name in ("skip_bad_rows", "dry_run"):
        raw = request.form.get(name, "").strip().lower()
        if raw not in ("", "0", "1", "true", "false"):
            raise ApiError(f"字段 {name} 应为 0 或 1", f"field {name} must be 0 or 1", field=name)
        flags[name] = raw in ("1", "true")
    user = current_user()["username"]
    registry = services().registry
    with tempfile.TemporaryDirectory(prefix="yizhan-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        upload.save(path)
        current = registry.stations()
        try:
            raw_table = read_table(path, encoding=encoding)
            prepared = prepare_stations(raw_table, crs=crs, existing=current,
                                        skip_bad_rows=flags["skip_bad_rows"], **validation_options(current_app.config))
        except ImportValidationError as exc:
            raise _validation_error(exc) from None
    frame = prepared.frame
    outside = [i for i, code in enumerate(frame["adcode"]) if not in_scope(current_user(), code)]
    if outside:
        raise ApiError(f"有 {len(outside)} 个站点不在您的辖区内（如 {frame['id'].iloc[outside[0]]}），未写入任何内容",
                       f"{len(outside)} station(s) are outside your area (e.g. {frame['id'].iloc[outside[0]]}); "
                       "nothing was written", status=403)
    existing_ids = set(current["id"].astype(str))
    replaced = frame[frame["id"].astype(str).isin(existing_ids)]
    if len(replaced):
        codes = current.set_index("id").loc[replaced["id"], "adcode"]
        bad = [sid for sid, code in codes.items() if not in_scope(current_user(), code)]
        if bad:
            raise ApiError(f"文件会修改辖区外的站点（如 {bad[0]}），未写入任何内容",
                           f"the file would change stations outside your area (e.g. {bad[0]}); nothing was written",
                           status=403)
    answer: dict[str, Any] = {"rows": prepared.n_input, "valid": len(frame), "warnings": prepared.warnings,
                              "skipped": [p.as_dict() for p in prepared.skipped[:MAX_PROBLEMS]],
                              "skipped_rows": prepared.skipped_rows, "dry_run": flags["dry_run"]}
    if flags["dry_run"]:
        answer.update(created=int((~frame["id"].astype(str).isin(existing_ids)).sum()),
                      updated=None, unchanged=None, batch=None)
        return _json(answer)
    result = registry.import_frame(frame, user=user, note=f"web import {upload.filename[:200]}",
                                   default_source=upload.filename[:200])
    _changed()
    answer.update(result)
    return _json(answer)


# -- history and undo ---------------------------------------------------------------------------------
def _entry(row: dict[str, Any], undone_by: dict[int, int]) -> dict[str, Any]:
    def state(value: Any) -> dict[str, Any] | None:        # JSON text, a dict, or None/NaN
        return json.loads(value) if isinstance(value, str) else value if isinstance(value, dict) else None

    before, after = state(row["before"]), state(row["after"])
    keys = sorted(set(before or {}) | set(after or {}))
    changes = [{"field": k, "before": (before or {}).get(k), "after": (after or {}).get(k)} for k in keys
               if (before or {}).get(k) != (after or {}).get(k)]
    shown = after or before or {}
    at = row["at"]
    return {"id": int(row["id"]), "station_id": row["station_id"], "name": shown.get("name", ""),
            "adcode": shown.get("adcode", ""), "action": row["action"], "user": row["user"],
            "at": at.isoformat() + "Z" if hasattr(at, "isoformat") else str(at), "batch": row["batch"] or None,
            "note": row["note"], "changes": changes, "before": before, "after": after,
            "undone_by": undone_by.get(int(row["id"]))}


@bp.route("/history")
@require(*EDITORS)
def history():  # noqa: ANN201
    """The registry's change history, newest first (planners see their area's stations).

    Filters: ``station_id``, ``user``, ``action``, ``batch``; paging: ``before_id`` (answer's
    ``next_before_id``) and ``limit`` (1–500, default 100)."""
    a = args({"station_id", "user", "action", "batch", "before_id", "limit"})
    limit = integer(a, "limit", 100, 1, 500)
    before_id = integer(a, "before_id", None, 1, 2**31 - 1)
    action = a.get("action", "").strip() or None
    if action is not None and action not in HISTORY_ACTIONS:
        raise ApiError("action 应为 create、update、delete 或 undo", "action must be create, update, delete or undo",
                       field="action")
    for name, n in (("station_id", 64), ("user", 64), ("batch", 40)):
        if len(a.get(name, "")) > n:
            raise ApiError(f"参数 {name} 过长", f"parameter {name} too long", field=name)
    frame = services().registry.history(a.get("station_id") or None, limit=limit, before_id=before_id,
                                        user=a.get("user") or None, action=action, batch=a.get("batch") or None,
                                        adcode_prefix=scope_prefix(current_user()) or None)
    rows = frame.to_dict(orient="records")
    undone_by = services().registry.undone_by([int(r["id"]) for r in rows])
    entries = [_entry(r, undone_by) for r in rows]
    return _json({"entries": entries,
                  "next_before_id": entries[-1]["id"] if len(entries) == limit else None})


def _from_registry(exc: Exception, status: int, field: str | None = None) -> ApiError:
    """An ApiError from a registry error whose message reads "中文 / English"."""
    return ApiError(*bilingual(str(exc)), status=status, field=field)


def _check_entry_scope(station_id: str, *states: Any) -> None:
    """The station before and after a history entry (dicts or JSON text) must lie in the user's area."""
    for state in states:
        if isinstance(state, str):
            state = json.loads(state)
        if isinstance(state, dict):       # None/NaN: a create's before or a delete's after
            _check_scope(state.get("adcode"), station_id)


def _history_or_404(history_id: int) -> dict[str, Any]:
    entry = services().registry.history_entry(history_id)
    if entry is None:
        raise ApiError(f"历史记录不存在：{history_id}", f"no such history entry: {history_id}", status=404)
    return entry


def _force(data: dict[str, Any]) -> bool:
    force = data.get("force", False)
    if not isinstance(force, bool):
        raise ApiError("字段 force 应为 true 或 false", "field force must be true or false", field="force")
    return force


@bp.route("/history/<int(max=2147483647):history_id>", methods=["GET"])
@require(*EDITORS)
def history_get(history_id: int):  # noqa: ANN201
    """One history entry."""
    args(set())
    entry = _history_or_404(history_id)
    _check_entry_scope(entry["station_id"], entry["before"], entry["after"])
    return _json(_entry(entry, services().registry.undone_by([history_id])))


@bp.route("/history/<int(max=2147483647):history_id>/undo", methods=["POST"])
@require(*EDITORS)
def history_undo(history_id: int):  # noqa: ANN201
    """Undo one change: the station goes back to its state before it (409 when the station changed
    since — undo the later change first, or send ``{"force": true}``)."""
    data = body({"force"})
    force = _force(data)
    entry = _history_or_404(history_id)
    _check_entry_scope(entry["station_id"], entry["before"], entry["after"])
    try:
        action = services().registry.undo(history_id, user=current_user()["username"], force=force)
    except UndoConflict as exc:
        raise _from_registry(exc, 409) from None
    _changed()
    latest = services().registry.history(entry["station_id"], limit=1).iloc[0]
    return _json({"undone": history_id, "action": action, "history_id": int(latest["id"]),
                  "station": services().registry.get(entry["station_id"])})


@bp.route("/history/batches/<string(maxlength=40):batch>/undo", methods=["POST"])
@require(*EDITORS)
def history_undo_batch(batch: str):  # noqa: ANN201
    """Undo a whole import (every change of one batch, in one transaction; all or nothing)."""
    data = body({"force"})
    force = _force(data)
    if not _BATCH.fullmatch(batch):
        raise ApiError("批次编号无效", "invalid batch id", status=404)
    frame = services().registry.history(batch=batch, limit=10_000_000)
    if frame.empty:
        raise ApiError(f"导入批次不存在：{batch}", f"no such batch: {batch}", status=404)
    for rec in frame.itertuples(index=False):
        _check_entry_scope(rec.station_id, rec.before, rec.after)
    try:
        n = services().registry.undo_batch(batch, user=current_user()["username"], force=force)
    except UndoConflict as exc:
        raise _from_registry(exc, 409) from None
    _changed()
    return _json({"batch": batch, "undone": n})


# -- accounts (admin) ---------------------------------------------------------------------------------
def _user_dict(rec: dict[str, Any]) -> dict[str, Any]:
    created = rec.get("created_at")
    from ..geodata.boundaries import name_of

    return {"id": int(rec["id"]), "username": rec["username"], "role": rec["role"], "adcode": rec["adcode"] or "",
            "area_name": name_of(rec["adcode"]) if rec["adcode"] else None, "active": bool(rec["active"]),
            "created_at": created.isoformat() + "Z" if hasattr(created, "isoformat") else created}


def _check_adcode(role: str, adcode: str) -> None:
    """A district account's adcode must be a district we know (any province); a planner's a
    province or city."""
    from ..geodata.boundaries import units

    if not adcode:
        return
    levels = {"district": ("district",), "planner": ("province", "city")}.get(role)
    if levels is None:
        return
    known = units()
    if not (known["adcode"].eq(adcode) & known["level"].isin(levels)).any():
        kind = "区县" if role == "district" else "省或市"
        raise ApiError(f"未知的{kind}行政区划代码：{adcode}", f"unknown {'district' if role == 'district' else 'province or city'}"
                       f" adcode: {adcode}", field="adcode")


def _role(data: dict[str, Any], required: bool) -> str | None:
    role = text_field(data, "role", 20, required=required) or None
    if role is not None and role not in ROLES:
        raise ApiError("角色应为 admin、planner 或 district", "role must be admin, planner or district", field="role")
    return role


@bp.route("/users", methods=["GET"])
@require("admin")
def users_list():  # noqa: ANN201
    """Every account (no password hashes)."""
    args(set())
    return _json([_user_dict(r) for r in services().registry.users().to_dict(orient="records")])


@bp.route("/users", methods=["POST"])
@require("admin")
def users_create():  # noqa: ANN201
    """Create an account: username, password (8+), role, adcode (district: required)."""
    data = body({"username", "password", "role", "adcode"})
    username = text_field(data, "username", 64, required=True)
    if not re.fullmatch(r"[\w.\-@\u4e00-\u9fff]{1,64}", username):
        raise ApiError("用户名只能包含字母、数字、汉字和 . - _ @", "username may contain letters, digits, Chinese "
                       "characters and . - _ @ only", field="username")
    password = data.get("password")
    if not isinstance(password, str):
        raise ApiError("缺少字段 password", "missing field password", field="password")
    role = _role(data, True)
    adcode = text_field(data, "adcode", 12)
    _check_adcode(role, adcode)
    try:
        uid = services().registry.create_user(username, password, role, adcode=adcode)
    except RegistryError as exc:
        exists = "exists" in str(exc)
        raise _from_registry(exc, 409 if exists else 400, "username" if exists else None) from None
    rec = services().registry.users().set_index("id").loc[uid].to_dict()
    rec["id"] = uid
    return _json(_user_dict(rec), 201, headers={"Location": f"/api/users/{uid}"})


@bp.route("/users/<int(max=2147483647):user_id>", methods=["PATCH"])
@require("admin")
def users_update(user_id: int):  # noqa: ANN201
    """Change an account: role, adcode, password, active (false logs it out)."""
    data = body({"role", "adcode", "password", "active"})
    role = _role(data, False)
    adcode = text_field(data, "adcode", 12) if "adcode" in data else None
    password = data.get("password")
    if password is not None and not isinstance(password, str):
        raise ApiError("字段 password 应为字符串", "field password must be a string", field="password")
    active = data.get("active")
    if active is not None and not isinstance(active, bool):
        raise ApiError("字段 active 应为 true 或 false", "field active must be true or false", field="active")
    users = services().registry.users().set_index("id")
    if user_id not in users.index:
        raise ApiError(f"账号不存在：{user_id}", f"no such account: {user_id}", status=404)
    if user_id == current_user()["id"] and (active is False or (role is not None and role != "admin")):
        raise ApiError("不能停用或降级自己的账号", "you cannot deactivate or demote your own account", status=409)
    _check_adcode(role or users.loc[user_id, "role"], adcode if adcode is not None else "")
    try:
        rec = services().registry.update_user(user_id, role=role, adcode=adcode, password=password, active=active)
    except RegistryError as exc:
        raise _from_registry(exc, 409 if "last active admin" in str(exc) else 400) from None
    if password is not None and user_id == current_user()["id"]:
        # a new password ends the account's other sessions (see auth.load_user), not this one
        session["tag"] = services().registry.get_user(user_id)["session_tag"]
    users = services().registry.users().set_index("id")
    full = users.loc[user_id].to_dict()
    full["id"] = rec["id"]
    return _json(_user_dict(full))
