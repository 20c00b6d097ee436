"""Hotspot datasets and coverage reports on the web (routes of the ``api`` blueprint).

* ``GET /api/datasets`` — every dataset, newest first (any logged-in account; not anonymous riders).
* ``POST /api/datasets`` — upload a hotspot file (planners and admins; district unions 403).  Either
  the raw request body (``Content-Type: application/octet-stream`` or ``text/csv`` …; ``name``,
  ``filename``, ``crs``, ``skip_bad_rows``, ``encoding`` as query parameters; chunked transfer
  accepted) or ``multipart/form-data`` (field ``file`` plus the same fields).  The body is streamed
  to disk in 1 MB pieces (werkzeug spools a multipart file above 500 KB to a temporary file) and
  never read into memory whole; ``DATASET_MAX_BYTES`` is this route's limit instead of the app's
  ``MAX_UPLOAD_BYTES`` (413 beyond).  201 with the record; 400 with the per-row report
  (``error.problems``: row, column, zh, en) and nothing stored; 409 for a taken name.
* ``PATCH /api/datasets/<id>`` ``{"name": ...}`` — rename; ``DELETE /api/datasets/<id>`` — remove
  (planners and admins; both recorded in the dataset history); 404 for an unknown id.
* ``GET /api/report?area=ADCODE&format=pdf|html[&dataset=ID][&group=G]`` — the coverage report of a
  province, city or district (any logged-in account, for an area inside its own scope: a district
  union only its own district), as an attachment; 503 when the PDF needs Chromium and there is none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, request

from ..stations import ImportValidationError, RegistryError, WriteConflict
from .api import _group, bp, dataset_param
from .auth import current_user, in_scope, require
from .errors import ApiError, args, bilingual, body, crs_param, text_field
from .geo import json_response as _json
from .ratelimit import check_analysis
from .services import services

EDITORS = ("planner", "admin")
#: Endpoints whose request body is a dataset upload (limited by DATASET_MAX_BYTES, not MAX_UPLOAD_BYTES).
UPLOAD_ENDPOINTS = ("api.datasets_upload",)
#: Multipart overhead allowed above DATASET_MAX_BYTES (boundaries, the form fields).
MULTIPART_SLACK = 1024 * 1024
UPLOAD_PARAMS = {"name", "filename", "crs", "skip_bad_rows", "encoding"}
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16")
SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".geoparquet", ".pq", ".xlsx", ".xlsm", ".geojson", ".json",
            ".gpkg")
MAX_PROBLEMS = 1000
#: Members of a dataset record as the API answers them.
RECORD_KEYS = ("id", "name", "rows", "skipped", "kind", "crs", "source_name", "bytes", "sha256", "created_at",
               "created_by")


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Before any hook reads the body (the CSRF check may read a multipart form): a dataset upload
    may be as large as ``DATASET_MAX_BYTES`` (Flask 3.1: ``request.max_content_length`` per request)."""
    if endpoint in UPLOAD_ENDPOINTS and request.method == "POST":
        request.max_content_length = int(current_app.config["DATASET_MAX_BYTES"]) + MULTIPART_SLACK


def _record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in RECORD_KEYS}


def _too_large() -> ApiError:
    limit = int(current_app.config["DATASET_MAX_BYTES"])
    return ApiError(f"文件过大，上限为 {limit / 1048576:.0f} MB（设置 DATASET_MAX_BYTES）",
                    f"the file is too large: the limit is {limit / 1048576:.0f} MB (setting DATASET_MAX_BYTES)",
                    status=413, field="file")


def _validation_error(exc: ImportValidationError) -> ApiError:
    """400 with the per-row report (as station imports answer it), 413 for a file above the limit."""
    problems = exc.problems
    if problems and problems[0].code == "too_large":
        return _too_large()
    first = problems[0] if problems else None
    err = ApiError(f"热点数据未通过校验，未保存任何内容：{first.zh if first else ''}",
                   f"the hotspot data failed validation, nothing was stored: {first.en if first else ''}",
                   status=400, field=(first.column or None) if first else None)
    err.extra = {"problems": [p.as_dict() for p in problems[:MAX_PROBLEMS]], "problem_count": len(problems)}
    if getattr(exc, "n_rows", None) is not None:
        err.extra["rows"] = exc.n_rows
    return err


def _registry_error(exc: RegistryError) -> ApiError:
    zh, en = bilingual(str(exc))
    taken = isinstance(exc, WriteConflict) or "已有同名" in zh
    return ApiError(zh, en, status=409 if taken else 400, field="name")


def _flag(raw: str | None, name: str) -> bool:
    value = (raw or "").strip().lower()
    if value not in ("", "0", "1", "true", "false"):
        raise ApiError(f"字段 {name} 应为 0 或 1", f"field {name} must be 0 or 1", field=name)
    return value in ("1", "true")


def _dataset_id(dataset_id: int) -> dict[str, Any]:
    record = services().datasets().get(dataset_id)
    if record is None:
        raise ApiError(f"热点数据集不存在：{dataset_id}", f"no such hotspot dataset: {dataset_id}", status=404)
    return record


@bp.route("/datasets", methods=["GET"])
@require()
def datasets_list():  # noqa: ANN201
    """Every hotspot dataset, newest first."""
    args(set())
    return _json([_record(r) for r in services().datasets().list()])


@bp.route("/datasets", methods=["POST"])
@require(*EDITORS)
def datasets_upload():  # noqa: ANN201
    """Upload a hotspot file as a new dataset (raw body or multipart; streamed to disk)."""
    multipart = request.mimetype == "multipart/form-data"
    if multipart:
        a = args({"csrf_token"} | UPLOAD_PARAMS)         # query parameters may name the fields too
        try:
            form_keys = {k if isinstance(k, str) else "" for k in request.form}
            file_keys = {k if isinstance(k, str) else "" for k in request.files}
        except ValueError:
            raise ApiError("multipart 请求格式错误", "malformed multipart request", field="file") from None
        unknown = sorted((form_keys - UPLOAD_PARAMS - {"csrf_token"}) | (file_keys - {"file"}))
        if unknown:
            raise ApiError(f"未知字段：{unknown[0][:50]}", f"unknown field: {unknown[0][:50]}", field=unknown[0][:50])
        fields = {**a, **{k: request.form.get(k, "") for k in UPLOAD_PARAMS if k in request.form}}
        upload = request.files.get("file")
        if upload is None:
            raise ApiError("请上传文件（字段 file）", "upload a file (form field file)", field="file")
        stream, filename = upload.stream, fields.get("filename") or upload.filename or ""
    else:
        if request.mimetype in ("application/json", "application/x-www-form-urlencoded"):
            raise ApiError("请以文件内容为请求体（application/octet-stream）或用 multipart/form-data 上传",
                           "send the file as the request body (application/octet-stream) or as multipart/form-data",
                           status=415, field="file")
        fields = args(UPLOAD_PARAMS)
        stream, filename = request.stream, fields.get("filename", "")
    name = text_field(fields, "name", 200, required=True)
    filename = text_field({"filename": filename}, "filename", 200) or "upload.csv"
    suffix = Path(filename).suffix.lower()
    if suffix and suffix not in SUFFIXES:
        raise ApiError(f"不支持的文件类型 {suffix[:10]}：请上传 CSV、Parquet、XLSX 或 GeoJSON",
                       f"unsupported file type {suffix[:10]}: upload CSV, Parquet, XLSX or GeoJSON", field="file",
                       status=415)
    crs = crs_param({"crs": fields.get("crs", "")})
    encoding = (fields.get("encoding", "") or "").strip().lower() or "auto"
    if encoding not in ENCODINGS:
        raise ApiError("编码应为 auto、utf-8、gbk、gb18030 或 utf-16", "encoding must be auto, utf-8, gbk, gb18030 "
                       "or utf-16", field="encoding")
    skip = _flag(fields.get("skip_bad_rows"), "skip_bad_rows")
    svc = services()
    try:
        record = svc.datasets().add_stream(stream, filename=filename, name=name, crs=crs, skip_bad_rows=skip,
                                           user=current_user()["username"], encoding=encoding)
    except ImportValidationError as exc:
        raise _validation_error(exc) from None
    except RegistryError as exc:
        raise _registry_error(exc) from None
    svc.datasets_changed()
    out = _record(record)
    out["problems"] = [p.as_dict() if hasattr(p, "as_dict") else p for p in record.get("problems", [])][:MAX_PROBLEMS]
    return _json(out, 201, headers={"Location": f"/api/datasets/{out['id']}"})


@bp.route("/datasets/<int(max=2147483647):dataset_id>", methods=["PATCH"])
@require(*EDITORS)
def datasets_rename(dataset_id: int):  # noqa: ANN201
    """Rename a dataset: ``{"name": ...}``."""
    data = body({"name"})
    name = text_field(data, "name", 200, required=True)
    _dataset_id(dataset_id)
    svc = services()
    try:
        record = svc.datasets().rename(dataset_id, name, user=current_user()["username"])
    except RegistryError as exc:
        if services().datasets().get(dataset_id) is None:
            raise ApiError(f"热点数据集不存在：{dataset_id}", f"no such hotspot dataset: {dataset_id}",
                           status=404) from None
        raise _registry_error(exc) from None
    svc.datasets_changed()
    return _json(_record(record))


@bp.route("/datasets/<int(max=2147483647):dataset_id>", methods=["DELETE"])
@require(*EDITORS)
def datasets_remove(dataset_id: int):  # noqa: ANN201
    """Remove a dataset and its file (recorded in the history)."""
    body(set())
    _dataset_id(dataset_id)
    svc = services()
    try:
        record = svc.datasets().remove(dataset_id, user=current_user()["username"])
    except RegistryError:
        raise ApiError(f"热点数据集不存在：{dataset_id}", f"no such hotspot dataset: {dataset_id}",
                       status=404) from None
    svc.datasets_changed(removed=dataset_id)
    return _json({"deleted": record["id"], "name": record["name"]})


# -- reports -----------------------------------------------------------------------------------------
def area_param(a: dict[str, str]) -> str:
    """The canonical adcode of the ``area`` parameter (a 6-digit code): 400 when missing or
    malformed, 404 when the boundary data does not know it."""
    from ..coverage.report import ReportError, resolve_area

    raw = a.get("area", "").strip()
    if not raw:
        raise ApiError("缺少参数 area（省、市或区县的 6 位代码）", "missing parameter area (a 6-digit adcode)",
                       field="area")
    if not (raw.isdigit() and len(raw) == 6):
        raise ApiError("参数 area 应为 6 位行政区划代码", "parameter area must be a 6-digit adcode", field="area")
    try:
        return resolve_area(raw)
    except ReportError as exc:
        zh, en = bilingual(str(exc))
        raise ApiError(zh, en, status=404, field="area") from None


@bp.route("/report")
@require()
def report():  # noqa: ANN201
    """The coverage report of an area (PDF or one self-contained HTML file) as an attachment."""
    from ..coverage.report import ReportError, find_chromium, report_from_registry

    a = args({"area", "format", "dataset", "group"})
    area = area_param(a)
    user = current_user()
    if not in_scope(user, area):
        raise ApiError("只能生成本辖区的报告", "you may only make reports of your own area", status=403, field="area")
    fmt = (a.get("format", "") or "pdf").strip().lower()
    if fmt not in ("pdf", "html"):
        raise ApiError("参数 format 应为 pdf 或 html", "parameter format must be pdf or html", field="format")
    group = _group(a.get("group", ""))
    record = dataset_param(a)
    if fmt == "pdf" and find_chromium() is None:
        raise ApiError("服务器未安装 Chromium，无法生成 PDF：请下载 HTML 版", "Chromium is not installed on the server, "
                       "so no PDF can be made: download the HTML report", status=503, field="format")
    svc = services()
    points = svc.hotspot_points(record)
    if points is None:
        raise ApiError("没有热点数据：请上传热点数据集、配置 HOTSPOTS_FILE 或运行 yizhan demo 载入样例",
                       "no hotspot data: upload a hotspot dataset, set HOTSPOTS_FILE or run `yizhan demo`", status=404)
    check_analysis()
    try:
        made = report_from_registry(svc.registry, points, area=area, config=current_app.config, group=group,
                                    source=points.attrs.get("source"))
        if fmt == "html":
            data = made.html().encode("utf-8")
        else:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="yizhan-report-") as tmp:
                path = made.pdf(Path(tmp) / "report.pdf")
                data = Path(path).read_bytes()
    except ReportError as exc:
        zh, en = bilingual(str(exc))
        raise ApiError(zh, en, status=503 if fmt == "pdf" else 400) from None
    title = str(made.figures.get("title") or area)
    ascii_name = f"yizhan-report-{area}" + (f"-dataset{record['id']}" if record else "") + f".{fmt}"
    utf_name = f"{title}覆盖报告-{area}.{fmt}"
    mimetype = "application/pdf" if fmt == "pdf" else "text/html; charset=utf-8"
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(utf_name)}"})
