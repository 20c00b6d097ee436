"""JSON errors for the API: bilingual messages, 4xx for bad requests, never a 500 for bad input."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ..geodata import crs as crs_mod

_HTTP_ZH = {400: "请求有误", 401: "需要登录", 403: "没有权限", 404: "找不到", 405: "不允许的请求方法",
            409: "冲突", 412: "前提条件不成立（数据已被他人修改）", 413: "上传内容过大", 415: "不支持的内容类型",
            429: "请求过于频繁", 500: "服务器内部错误"}


class ApiError(Exception):
    """A bad request to the JSON API: answered with ``status`` and a bilingual message."""

    def __init__(self, zh: str, en: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(en)
        self.zh, self.en, self.status, self.field = zh, en, status, field
        self.extra: dict[str, object] = {}     # more members of the error object (e.g. problems)
        self.headers: dict[str, str] = {}      # more response headers (e.g. the current ETag)


def register(app: Flask) -> None:
    """Install the JSON error handlers (API paths answer JSON, pages keep HTML errors)."""

    from ..stations import RegistryError, StaleStation, WriteConflict

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):  # noqa: ANN202
        body = {"error": {"zh": exc.zh, "en": exc.en, "status": exc.status}}
        if exc.field:
            body["error"]["field"] = exc.field
        body["error"].update(exc.extra)
        return jsonify(body), exc.status, exc.headers

    @app.errorhandler(RegistryError)
    def _registry_error(exc: RegistryError):  # noqa: ANN202
        """A registry refusal that no view turned into an answer: 412 for a stale version, 409 for
        a collision with a concurrent write, else 400 — never a 500."""
        status = 412 if isinstance(exc, StaleStation) else 409 if isinstance(exc, WriteConflict) else 400
        zh, en = bilingual(str(exc))
        return _api_error(ApiError(zh, en, status=status))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # noqa: ANN202
        if request.path.startswith("/api/") or request.path.endswith(".json"):
            headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]  # Allow, Retry-After
            return jsonify({"error": {"zh": _HTTP_ZH.get(exc.code or 500, "请求错误"), "en": exc.description,
                                      "status": exc.code}}), exc.code, headers
        return exc


# -- request parsing helpers (shared by the API blueprints) -----------------------------------------
def args(allowed: set[str]) -> dict[str, str]:
    """Query parameters, rejecting unknown ones with a 400."""
    query = request.args          # one proxy lookup, not one per name (this runs on every API request)
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise ApiError(f"未知参数：{', '.join(unknown)}", f"unknown parameter(s): {', '.join(unknown)}",
                       field=unknown[0])
    values = {k: query.get(k, "") for k in allowed if k in query}
    for k, v in values.items():
        if "\x00" in v:
            raise ApiError(f"参数 {k} 含有空字符（\\0）", f"parameter {k} contains a NUL character", field=k)
    return values


def number(values: dict[str, str], name: str, lo: float, hi: float, *, default: float | None = None) -> float:
    """A finite float parameter within [lo, hi] (required unless ``default``)."""
    raw = str(values.get(name, "")).strip()
    if raw == "":
        if default is not None:
            return default
        raise ApiError(f"缺少参数 {name}", f"missing parameter {name}", field=name)
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(f"参数 {name} 不是数字", f"parameter {name} is not a number", field=name) from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ApiError(f"参数 {name} 超出范围 [{lo}, {hi}]", f"parameter {name} out of range [{lo}, {hi}]", field=name)
    return value


def integer(values: dict[str, str], name: str, default: int | None, lo: int, hi: int) -> int | None:
    """An integer parameter within [lo, hi] (``default`` when absent)."""
    raw = str(values.get(name, "")).strip()
    if raw == "":
        return default
    if not raw.lstrip("-").isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(f"参数 {name} 应为 {lo} 到 {hi} 的整数", f"parameter {name} must be an integer from {lo} to {hi}",
                       field=name)
    return int(raw)


def choice(values: dict[str, str], name: str, options: tuple[str, ...], default: str) -> str:
    """One of ``options`` (``default`` when absent)."""
    # only blanks are trimmed: str.strip() would also eat control characters such as \x1c (then the
    # default would answer a request the schema calls invalid)
    raw = str(values.get(name, "")).strip(" \t\r\n") or default
    if raw not in options:
        raise ApiError(f"参数 {name} 应为 {' / '.join(options)}", f"parameter {name} must be one of {', '.join(options)}",
                       field=name)
    return raw


#: Largest JSON body the API reads (bytes); uploads have their own limit (MAX_UPLOAD_BYTES).
MAX_BODY_BYTES = 64 * 1024


def body(allowed: set[str]) -> dict[str, Any]:
    """The JSON object body (an empty body is ``{}``); 400 for anything else or unknown members."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ApiError("请求内容过大", "request body too large", status=413)
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError("请求内容过大", "request body too large", status=413)
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError("请求内容不是有效的 JSON", "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError("请求内容应为 JSON 对象", "request body must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiError(f"未知字段：{', '.join(unknown)[:100]}", f"unknown field(s): {', '.join(unknown)[:100]}",
                       field=unknown[0][:50])
    return data


def text_field(data: dict[str, Any], name: str, max_len: int, *, required: bool = False) -> str:
    """A string member of a JSON body (stripped, at most ``max_len`` characters)."""
    value = data.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ApiError(f"字段 {name} 应为字符串", f"field {name} must be a string", field=name)
    value = value.strip()
    if "\x00" in value:
        raise ApiError(f"字段 {name} 含有空字符（\\0）", f"field {name} contains a NUL character", field=name)
    if len(value) > max_len:
        raise ApiError(f"字段 {name} 过长（最多 {max_len} 字）", f"field {name} too long (at most {max_len})",
                       field=name)
    if required and not value:
        raise ApiError(f"缺少字段 {name}", f"missing field {name}", field=name)
    return value


def number_field(data: dict[str, Any], name: str, lo: float, hi: float) -> float:
    """A finite number member of a JSON body within [lo, hi] (required)."""
    value = data.get(name)
    if value is None:
        raise ApiError(f"缺少字段 {name}", f"missing field {name}", field=name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(f"字段 {name} 应为数字", f"field {name} must be a number", field=name)
    value = float(value)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ApiError(f"字段 {name} 超出范围 [{lo}, {hi}]", f"field {name} out of range [{lo}, {hi}]", field=name)
    return value


_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def crs_param(values: dict[str, str], name: str = "crs") -> str:
    """A coordinate-system name (wgs84 when absent): wgs84, gcj02 or bd09."""
    raw = values.get(name, "").strip().lower() or "wgs84"
    if raw not in crs_mod.CRS_NAMES:
        raise ApiError("坐标系应为 wgs84、gcj02 或 bd09", f"{name} must be wgs84, gcj02 or bd09", field=name)
    return raw


def bilingual(message: str) -> tuple[str, str]:
    """Split a registry message ``中文 / English`` at the first slash followed by no Chinese."""
    for m in re.finditer(r"\s*/\s*", message):
        if not _CJK.search(message[m.end():]):
            return message[:m.start()].strip(), message[m.end():].strip()
    return message, message
