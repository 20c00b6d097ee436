"""Local stand-ins for the Amap and Tianditu geocoders (no network).

Each stub is a stdlib ``ThreadingHTTPServer`` on ``127.0.0.1:0`` in a daemon thread that checks the
documented request and answers in the provider's documented format, with the bodies recorded in
``docs/design/issue12-geocoding.md`` (§1.7, §2.6)::

    with AmapStub({"越秀区较场西路": amap_geocode(113.2668, 23.1289, "兴趣点")}) as stub:
        provider = AmapProvider("good-key", stub.base_url, timeout=(1, 0.2))
        provider.geocode("广东省广州市越秀区较场西路营业厅", "440100")
        stub.mode = "quota"                   # every later request: daily quota used up
        stub.script("qps", "qps")             # the next two requests: QPS refused, then `mode`
        stub.script("malformed", query="禅城")  # only for queries containing 禅城
        stub.requests                         # [(path, {param: value}), ...]

``answers`` maps a query substring to the answer (an Amap ``geocodes`` item, a Tianditu
``location``); a query matching no entry gets the provider's "no result".  Modes: ``ok``,
``no_result``, ``invalid_key``, ``quota``, ``qps`` (Amap 10021), ``minute`` (Amap 10004),
``engine`` (Amap 30001), ``bad_params`` (Amap 20000), ``http<status>`` (``http500``, ``http502``, ``http418``,
``http429``: that status, an HTML page for 5xx), ``html`` (an HTML page with status 200),
``truncated``, ``no_location``, ``bad_location`` (``"abc"``), ``timeout`` (answers after ``delay``
seconds, longer than the client's read time-out).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GOOD_KEY = "good-key"

# -- recorded bodies (design note §1.7 and §2.6) ------------------------------------------------------
AMAP_OK = {"status": "1", "info": "OK", "infocode": "10000", "count": "1",
           "geocodes": [{"formatted_address": "北京市昌平区横桥社区卫生服务站", "country": "中国", "province": "北京市",
                         "citycode": "010", "city": "北京市", "district": "昌平区", "township": [],
                         "neighborhood": {"name": [], "type": []}, "building": {"name": [], "type": []},
                         "adcode": "110114", "street": [], "number": [], "location": "116.192951,40.172759",
                         "level": "兴趣点"}]}
AMAP_INVALID_KEY = {"status": "0", "info": "INVALID_USER_KEY", "infocode": "10001"}
AMAP_QUOTA = {"status": "0", "info": "DAILY_QUERY_OVER_LIMIT", "infocode": "10003"}
AMAP_CKQPS = {"status": "0", "info": "CKQPS_HAS_EXCEEDED_THE_LIMIT", "infocode": "10020"}
AMAP_NO_RESULT = {"status": "1", "info": "OK", "infocode": "10000", "count": "0", "geocodes": []}
# codes from the official error table, same shape
AMAP_CUQPS = {"status": "0", "info": "CUQPS_HAS_EXCEEDED_THE_LIMIT", "infocode": "10021"}
AMAP_TOO_FREQUENT = {"status": "0", "info": "ACCESS_TOO_FREQUENT", "infocode": "10004"}
AMAP_MISSING_PARAMS = {"status": "0", "info": "MISSING_REQUIRED_PARAMS", "infocode": "20001"}
AMAP_INVALID_PARAMS = {"status": "0", "info": "INVALID_PARAMS", "infocode": "20000"}
AMAP_ENGINE = {"status": "0", "info": "ENGINE_RESPONSE_DATA_ERROR", "infocode": "30001"}

TDT_OK_DOOR = {"msg": "ok", "location": {"score": 100, "level": "门址", "lon": "116.290158", "lat": "39.894696",
                                         "keyWord": "北京市海淀区莲花池西路28号"}, "searchVersion": "6.4.9V", "status": "0"}
TDT_OK_ADDRESS = {"msg": "ok", "location": {"score": 95, "level": "地名地址", "lon": 121.44344, "lat": 31.194107,
                                            "keyWord": "上海市徐汇区斜土路2365弄"}, "searchVersion": "6.0.0", "status": "0"}
TDT_NO_RESULT = {"msg": "无结果", "searchVersion": "6.4.9V", "status": "404"}
TDT_INVALID_KEY = {"msg": "非法Key", "resolve": "请到API控制台重新申请Key", "code": 1}
# recorded msg and code; the resolve texts of these two are not recorded (placeholders)
TDT_DOMAIN = {"msg": "域名不匹配", "resolve": "请检查Key的白名单设置", "code": 7}
TDT_KEY_TYPE = {"msg": "权限类型错误", "resolve": "Key权限类型为:服务端，请在服务端使用", "code": 12}
# the quota answer is undocumented: modelled as a 403 with a code other than the key codes
TDT_QUOTA = {"msg": "访问次数超限", "resolve": "请明日再试或申请提升配额", "code": 9}

HTML_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>出错了</h1></body></html>"


def amap_geocode(lon: float, lat: float, level: str = "兴趣点", formatted_address: str = "",
                 **fields: Any) -> dict[str, Any]:
    """An Amap ``geocodes`` item at a GCJ-02 point; absent fields are ``[]`` as Amap sends them."""
    item: dict[str, Any] = {"formatted_address": formatted_address or [], "country": "中国", "province": [],
                            "citycode": [], "city": [], "district": [], "township": [], "street": [],
                            "number": [], "adcode": [], "location": f"{lon:.6f},{lat:.6f}", "level": level}
    item.update(fields)
    return item


def tianditu_location(lon: float, lat: float, level: str = "门址", score: float = 100,
                      keyword: str = "") -> dict[str, Any]:
    """A Tianditu ``location`` (coordinates as strings, as in the documentation example)."""
    return {"score": score, "level": level, "lon": f"{lon:.6f}", "lat": f"{lat:.6f}", "keyWord": keyword}


class _Stub:
    """Shared server machinery; subclasses implement :meth:`answer`."""

    path = ""

    def __init__(self, answers: Mapping[str, dict] | None = None, *, key: str = GOOD_KEY, mode: str = "ok",
                 delay: float = 1.0) -> None:
        self.answers: dict[str, dict] = dict(answers or {})
        self.key = key
        self.mode = mode
        self.delay = delay
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._scripts: list[tuple[str | None, list[str]]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # -- control -----------------------------------------------------------------------------------
    def script(self, *modes: str, query: str | None = None) -> None:
        """The next requests (for queries containing ``query``, if given) get ``modes`` in turn."""
        with self._lock:
            self._scripts.append((query, list(modes)))

    def _mode_for(self, query: str) -> str:
        with self._lock:
            for needle, modes in self._scripts:
                if modes and (needle is None or needle in query):
                    return modes.pop(0)
        return self.mode

    def lookup(self, query: str) -> dict | None:
        for needle, answer in self.answers.items():
            if needle in query:
                return answer
        return None

    def queries(self) -> list[str]:
        """The query texts received, in order."""
        return [self.query_of(params) for _, params in self.requests]

    # -- server ------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "stub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> _Stub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                with stub._lock:
                    stub.requests.append((parts.path, params))
                status, body, ctype, cut = stub.respond(parts.path, params)
                if status is None:  # time-out: answer too late (or never, once stopped)
                    if stub._stopped.wait(stub.delay):
                        return
                    status, body, ctype, cut = 200, b"{}", "application/json", None
                data = body[:cut] if cut is not None else body
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> _Stub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering ---------------------------------------------------------------------------------
    def respond(self, path: str, params: dict[str, str]) -> tuple[int | None, bytes, str, int | None]:
        """(HTTP status or None for a time-out, body, content type, truncate-at or None)."""
        if path != self.path:
            return 404, b"<html><body>404 Not Found</body></html>", "text/html", None
        mode = self._mode_for(self.query_of(params))
        if mode == "timeout":
            return None, b"", "", None
        if mode.startswith("http"):  # http500, http502, http418, http429 …
            code = int(mode[4:])
            page = f"<html><body>{code} error</body></html>".encode() if code >= 500 else b""
            return code, page, "text/html", None
        if mode == "html":
            return 200, HTML_PAGE.encode(), "text/html; charset=utf-8", None
        status, body = self.answer(params, mode)
        raw = json.dumps(body, ensure_ascii=False).encode()
        return status, raw, "application/json;charset=UTF-8", (len(raw) // 2 if mode == "truncated" else None)

    def query_of(self, params: dict[str, str]) -> str:
        raise NotImplementedError

    def answer(self, params: dict[str, str], mode: str) -> tuple[int, dict]:
        raise NotImplementedError


class AmapStub(_Stub):
    """``GET /v3/geocode/geo?key&address[&city][&output=JSON]``; errors as HTTP 200 bodies."""

    path = "/v3/geocode/geo"

    def query_of(self, params: dict[str, str]) -> str:
        return params.get("address", "")

    def answer(self, params: dict[str, str], mode: str) -> tuple[int, dict]:
        if params.get("key") != self.key or mode == "invalid_key":
            return 200, AMAP_INVALID_KEY
        if not params.get("address"):
            return 200, AMAP_MISSING_PARAMS
        if params.get("output", "JSON").upper() != "JSON":
            return 200, AMAP_INVALID_PARAMS
        fixed = {"quota": AMAP_QUOTA, "qps": AMAP_CUQPS, "minute": AMAP_TOO_FREQUENT, "engine": AMAP_ENGINE,
                 "bad_params": AMAP_INVALID_PARAMS, "no_result": AMAP_NO_RESULT}
        if mode in fixed:
            return 200, fixed[mode]
        item = self.lookup(params["address"])
        if item is None:
            return 200, AMAP_NO_RESULT
        item = dict(item)
        if mode == "no_location":
            item.pop("location", None)
        elif mode == "bad_location":
            item["location"] = "abc"
        return 200, {"status": "1", "info": "OK", "infocode": "10000", "count": "1", "geocodes": [item]}


class TiandituStub(_Stub):
    """``GET /geocoder?ds={"keyWord":…}&tk=KEY``; key errors as HTTP 403 JSON."""

    path = "/geocoder"

    def query_of(self, params: dict[str, str]) -> str:
        try:
            return str(json.loads(params.get("ds", "")).get("keyWord", ""))
        except (ValueError, AttributeError):
            return ""

    def answer(self, params: dict[str, str], mode: str) -> tuple[int, dict]:
        if params.get("tk") != self.key or mode == "invalid_key":
            return 403, TDT_INVALID_KEY
        if mode == "quota":
            return 403, TDT_QUOTA
        keyword = self.query_of(params)
        if not keyword:  # undocumented: modelled as an error status in a 200 body
            return 200, {"msg": "参数错误：缺少 keyWord", "searchVersion": "6.4.9V", "status": "400"}
        item = None if mode == "no_result" else self.lookup(keyword)
        if item is None:
            return 200, TDT_NO_RESULT
        item = {**item, "keyWord": item.get("keyWord") or keyword}
        if mode == "no_location":
            return 200, {"msg": "ok", "searchVersion": "6.4.9V", "status": "0"}
        if mode == "bad_location":
            item["lon"] = item["lat"] = "abc"
        return 200, {"msg": "ok", "location": item, "searchVersion": "6.4.9V", "status": "0"}
