"""The ``yizhan`` command line (click).

Heavy libraries (geopandas, osmnx, folium, Flask) are imported inside the commands that need
them so that ``yizhan --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from .config import load_config
from .samples import REGIONS as SAMPLE_REGIONS  # a light module (the generators load lazily)

CRS_CHOICE = click.Choice(["wgs84", "gcj02", "bd09"], case_sensitive=False)
#: ``--dataset ID`` of analyze, site and report: a hotspot dataset instead of ``--hotspots FILE``
DATASET_OPTION = click.option("--dataset", "dataset_id", type=int, default=None, metavar="ID",
                              help="用已添加的热点数据集代替 --hotspots（yizhan datasets list）/ a hotspot dataset "
                                   "instead of --hotspots FILE (see yizhan datasets list)")


class Context:
    """What every command gets: the home folder, its settings and (lazily) the registry."""

    def __init__(self, home: str | None) -> None:
        self.config = load_config(home)
        from .stations.model import normalize_annual_targets   # light: the vocabulary only

        self.config["ANNUAL_TARGETS"] = normalize_annual_targets(self.config.get("ANNUAL_TARGETS"))
        self.home = Path(self.config["HOME"])
        self._registry = None

    @property
    def registry(self):  # noqa: ANN201
        if self._registry is None:
            from .stations.migrate import SchemaError
            from .stations.storage import Registry

            self.home.mkdir(parents=True, exist_ok=True)
            try:
                self._registry = Registry(self.config["DATABASE_URL"])
            except SchemaError as exc:       # an older schema: `yizhan db upgrade` (exit status 1)
                raise click.ClickException(str(exc)) from None
        return self._registry

    def engine(self):  # noqa: ANN201
        """An engine on the registry database, whatever its schema revision (backup, db upgrade)."""
        from .stations.storage import make_engine

        self.home.mkdir(parents=True, exist_ok=True)
        return make_engine(self.config["DATABASE_URL"])

    def validation_options(self) -> dict[str, float]:
        from .config import validation_options

        return validation_options(self.config)


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), envvar="YIZHAN_HOME", default=None,
              help="数据目录（数据库、导入数据、缓存）/ home folder: registry database, data, caches "
                   "[env YIZHAN_HOME; default ./instance]")
@click.version_option(package_name="yizhan")
@click.pass_context
def main(ctx: click.Context, home: str | None) -> None:
    """驿站通 yizhan — 工会服务站点查找与覆盖分析 / union rest-station locator and coverage analyzer."""
    try:
        ctx.obj = Context(home)
    except ValueError as exc:          # an invalid setting: its bilingual message, no traceback
        raise click.ClickException(str(exc)) from None


@main.command("import-stations")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--crs", type=CRS_CHOICE, default="wgs84", show_default=True,
              help="输入坐标系 / coordinate system of the file (gcj02 = 高德/腾讯, bd09 = 百度)")
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "gbk"], case_sensitive=False),
              default="auto", show_default=True, help="CSV 文件编码 / CSV text encoding")
@click.option("--skip-bad-rows", is_flag=True,
              help="跳过有问题的行并列出 / import the good rows, list the skipped ones")
@click.option("--user", default="cli", show_default=True, help="记入历史的操作人 / who, for the history")
@pass_ctx
def import_stations(c: Context, file: str, crs: str, encoding: str, skip_bad_rows: bool, user: str) -> None:
    """导入站点（CSV/XLSX/GeoJSON，全部成功或全部不写入）/ import stations, all or nothing."""
    from .stations import ImportValidationError, import_stations_file

    try:
        result = import_stations_file(c.registry, file, crs=crs, encoding=encoding,
                                      skip_bad_rows=skip_bad_rows, user=user, **c.validation_options())
    except ImportValidationError as exc:
        click.echo(exc.report(), err=True)
        sys.exit(2)
    for w in result["warnings"]:
        click.echo(w, err=True)
    if result["skipped"]:
        click.echo(f"跳过 {len(result['skipped_rows'])} 行 / skipped {len(result['skipped_rows'])} row(s):",
                   err=True)
        for p in result["skipped"]:
            click.echo("  " + p.format(), err=True)
    waiting = result.get("waiting", 0)
    click.echo(f"导入完成：新增 {result['created']}，更新 {result['updated']}，未变 {result['unchanged']}，"
               f"待定位 {waiting} / imported: {result['created']} new, {result['updated']} updated, "
               f"{result['unchanged']} unchanged, {waiting} waiting for a location (batch {result['batch']})")
    if waiting:
        click.echo("待定位的站点不计入覆盖分析：用 yizhan geocode 定位，或在 /registry 页面的地图上标注 / stations waiting for "
                   "a location are not counted in coverage: locate them with `yizhan geocode` or place them on the "
                   "map of the /registry page", err=True)


@main.command("export-stations")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--with-crs", "with_crs", default="", metavar="gcj02,bd09",
              help="另加这些坐标系的经纬度列（lon_gcj02, lat_gcj02, lon_bd09, lat_bd09），用于在高德/百度地图上发布 / add "
                   "coordinate columns in these systems beside WGS-84, for publishing on Amap/Baidu maps")
@click.option("--status", default="", help="只导出该状态的站点（如 待定位）/ only stations with this status (e.g. 待定位)")
@pass_ctx
def export_stations_cmd(c: Context, file: str, with_crs: str, status: str) -> None:
    """导出站点，格式由扩展名决定（.csv .xlsx .geojson .gpkg）/ export stations; format from the extension."""
    from .stations import model
    from .stations.export import export_stations, parse_with_crs

    wanted = None
    if status.strip():
        wanted = model.normalize_status(status)
        if wanted is None:
            raise click.BadParameter(f"未知状态 {status!r}，可选：{'、'.join(model.STATUSES)} / unknown status",
                                     param_hint="--status")
    try:
        systems = parse_with_crs(with_crs)
        frame = c.registry.stations(status=wanted)
        path = export_stations(frame, file, with_crs=systems)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"已导出 {len(frame)} 个站点到 {path} / exported {len(frame)} stations to {path}")


@main.command()
@click.option("--provider", type=click.Choice(["tianditu", "amap"], case_sensitive=False), required=True,
              help="地理编码服务：天地图（服务端 Key）或高德（Web服务 Key）/ geocoder: Tianditu (server key) or Amap "
                   "(Web Service key)")
@click.option("--key", default=None, help="您的 Key（也可用环境变量 YIZHAN_TIANDITU_KEY / YIZHAN_AMAP_KEY）/ your key "
                                          "(or the environment variable)")
@click.option("--base-url", default=None, help="替换服务的协议和主机（保留其文档路径），用于代理或测试 / replaces the "
                                               "service's scheme and host, keeping its documented path")
@click.option("--min-precision", type=click.Choice(["door", "road", "poi"], case_sensitive=False), default="poi",
              show_default=True, help="低于此精度的结果留作候选，待人工确认 (door > poi > road) / answers below it stay "
                                      "candidates for a person to accept")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="最多发出 N 次请求（缓存命中不计）/ at most N requests (cache hits are free)")
@click.option("--json", "as_json", is_flag=True, help="每个站点一个 JSON 对象（数组）/ one JSON object per station")
@click.option("--timeout", type=click.FloatRange(min=0.05), default=10.0, show_default=True,
              help="每次请求的读取超时（秒）/ read time-out of a request, seconds")
@click.option("--min-interval", type=click.FloatRange(min=0), default=None,
              help="两次请求的最小间隔（秒；默认 高德 0.4、天地图 1）/ seconds between requests (default Amap 0.4, "
                   "Tianditu 1)")
@click.option("--user", default="cli", show_default=True, help="记入历史的操作人 / who, for the history")
@pass_ctx
def geocode(c: Context, provider: str, key: str | None, base_url: str | None, min_precision: str,
            limit: int | None, as_json: bool, timeout: float, min_interval: float | None, user: str) -> None:
    """为待定位站点查找坐标（天地图或高德，使用您的 Key）/ locate the stations waiting for a location.

    结果缓存在数据目录的 cache/geocode.sqlite；中断后重新运行同一命令即可继续 / answers are cached in
    <home>/cache/geocode.sqlite; after an interruption run the same command again to resume."""
    import uuid

    from .stations import geocode as gc

    provider = provider.lower()
    key = key or os.environ.get(f"YIZHAN_{provider.upper()}_KEY", "")
    if not key.strip():
        raise click.UsageError(f"需要 --key 或环境变量 YIZHAN_{provider.upper()}_KEY / --key (or "
                               f"YIZHAN_{provider.upper()}_KEY) is required")
    try:
        client = gc.make_provider(provider, key.strip(), base_url, timeout=(5.0, timeout), min_interval=min_interval)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    from .stations import model

    registry = c.registry
    waiting = registry.stations(status=model.STATUS_WAITING)
    (c.home / "cache").mkdir(parents=True, exist_ok=True)
    batch = uuid.uuid4().hex
    outcomes: list[Any] = []

    def record(outcome: Any) -> None:       # each station is written as soon as it is decided
        _write_outcome(registry, outcome, provider=client.name, user=user, batch=batch)
        outcomes.append(outcome)

    fatal = None
    with gc.AnswerCache(c.home / "cache" / "geocode.sqlite") as cache:
        try:
            gc.geocode_stations(waiting, client, min_precision=min_precision.lower(), limit=limit, cache=cache,
                                district_tolerance_m=float(c.config["DISTRICT_TOLERANCE_M"]), on_outcome=record)
        except gc.GeocodeError as exc:
            fatal = exc
    if as_json:
        click.echo(json.dumps([_outcome_json(o) for o in outcomes], ensure_ascii=False, indent=1))
    located = sum(o.status == "located" for o in outcomes)
    with_candidate = sum(o.status == "waiting" and o.candidate is not None for o in outcomes)
    errors = sum(bool(o.error) for o in outcomes)
    cached = sum(o.from_cache for o in outcomes)
    left = len(registry.stations(status=model.STATUS_WAITING))
    click.echo(f"地理编码（{client.label_zh}）：定位 {located}，仍待定位 {left}（本次有候选位置待人工确认 {with_candidate}，"
               f"出错 {errors}），缓存命中 {cached}，请求 {client.requests_made} / geocoding ({client.name}): {located} "
               f"located, {left} still waiting ({with_candidate} with a candidate for a person to check, {errors} "
               f"errors), {cached} from the cache, {client.requests_made} requests (history batch {batch})",
               err=as_json)
    if fatal is not None:
        click.echo(f"已停止 / stopped: {fatal.message}\n已完成的结果已保存，稍后重新运行同一命令即可继续 / the results so "
                   "far are saved; run the same command again later to go on", err=True)
        sys.exit(3)


def _write_outcome(registry, outcome, *, provider: str, user: str, batch: str):  # noqa: ANN001, ANN202
    """Write one geocoding outcome to the registry (one history entry in ``batch``): a located
    station gets its coordinates, precision and status; a waiting one its candidate.  Skipped when
    the station is no longer waiting (placed by someone meanwhile).  Returns ``outcome``."""
    from .geodata.crs import from_wgs84
    from .stations import model
    from .stations.geocode import placed_adcode

    current = registry.get(outcome.id)
    if current is None or current["status"] != model.STATUS_WAITING:
        return outcome
    if outcome.status == "located":
        orig_crs = "gcj02" if provider == "amap" else "wgs84"     # 天地图: CGCS2000, taken as WGS-84
        olon, olat = (float(v) for v in from_wgs84(outcome.lon, outcome.lat, orig_crs))
        changes = {"lon": outcome.lon, "lat": outcome.lat, "orig_lon": round(olon, 7), "orig_lat": round(olat, 7),
                   "orig_crs": orig_crs, "precision": outcome.precision,
                   "status": current["located_status"] or "在运营", "located_status": "", "candidate": ""}
        adcode = placed_adcode(current["adcode"], outcome.lon, outcome.lat)
        if adcode != current["adcode"]:
            changes["adcode"] = adcode
        note = f"geocode {provider}: {outcome.label or outcome.query}"[:500]
    elif outcome.candidate is not None:
        text = json.dumps(outcome.candidate, ensure_ascii=False)
        try:
            before = json.loads(current["candidate"]) if current["candidate"] else None
        except ValueError:
            before = None
        if isinstance(before, dict) and {k: v for k, v in before.items() if k != "at"} == \
                {k: v for k, v in outcome.candidate.items() if k != "at"}:
            return outcome           # the same answer again (a re-run): no new history entry
        changes = {"candidate": text}
        note = f"geocode {provider}: candidate ({outcome.precision}) {outcome.reason}"[:500]
    else:
        return outcome
    from .stations import StaleStation

    try:
        registry.update_station(outcome.id, changes, user=user, note=note, batch=batch,
                                expected_version=current.version)
    except StaleStation:          # changed by someone this very moment: theirs wins, ours stays cached
        pass
    return outcome


def _outcome_json(outcome) -> dict[str, Any]:  # noqa: ANN001
    """The ``--json`` object of one station."""
    return {"id": outcome.id, "status": outcome.status, "precision": outcome.precision or None,
            "lon": outcome.lon, "lat": outcome.lat, "provider": outcome.provider or None,
            "label": outcome.label or None, "from_cache": outcome.from_cache, "error": outcome.error or None,
            "reason": outcome.reason or None}


@main.command()
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option("--crs", type=CRS_CHOICE, default="wgs84", show_default=True, help="输入点的坐标系")
@click.option("--k", type=click.IntRange(1, 100), default=5, show_default=True, help="返回几个站点")
@click.option("--type", "type_", default=None, help="站点类型 / station type, e.g. 司机之家")
@click.option("--group", default=None, help="劳动者群体 / worker group, e.g. 外卖配送员")
@click.option("--service", default=None, help="需要的服务 / a service, e.g. 充电")
@click.option("--open-at", default=None, help="在该时间开放 HH:MM（今天）或 ISO 时间 / open at HH:MM")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON 列表 / print a JSON list")
@pass_ctx
def nearest(c: Context, lon: float, lat: float, crs: str, k: int, type_: str | None, group: str | None,
            service: str | None, open_at: str | None, as_json: bool) -> None:
    """最近的站点（大圆距离）/ the k nearest stations by great-circle distance."""
    import math

    from .stations.nearest import OpenAt, StationIndex

    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise click.BadParameter("经纬度超出范围 / lon/lat out of range", param_hint="LON LAT")
    try:
        when = OpenAt.parse(open_at, tz=c.config["TIMEZONE"]) if open_at else None
        index = StationIndex(c.registry.stations())
        records = index.nearest(lon, lat, crs=crs, k=k, type=type_, group=group, service=service,
                                open_at=when)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=1))
        return
    if not records:
        click.echo("没有符合条件的站点 / no matching station")
        return
    for i, r in enumerate(records, 1):
        click.echo(f"{i}. {r['name']}（{r['type']}）{r['distance_m']:.0f} 米 — {r['address']} "
                   f"[{r['lon']:.6f}, {r['lat']:.6f}] {r['hours'] or ''}")


#: ``--region`` of ``demo`` and ``serve``: the embedded sample regions (yizhan.samples.REGIONS).
REGION_CHOICE = click.Choice(list(SAMPLE_REGIONS), case_sensitive=False)


@main.command()
@click.option("--region", type=REGION_CHOICE, default="guangzhou", show_default=True,
              help="样例区域：guangzhou 广州（城市）或 qinghai 青海（全省、国道走廊）/ sample region: "
                   "guangzhou (a city) or qinghai (a province with highway corridors)")
@click.option("--force", is_flag=True,
              help="即使已有数据也重新载入样例；替换之前载入的样例站点，保留用户导入或编辑的站点 / reload even "
                   "if the home has stations; replaces the stations of a previous sample, keeps stations "
                   "users imported or edited")
@pass_ctx
def demo(c: Context, region: str, force: bool) -> None:
    """载入内置样例（合成数据）/ load an embedded sample (synthetic data) into the home.

    Writes <home>/sample/stations.csv, hotspots.csv (and, for qinghai, highways.osm) and imports
    the stations as user "sample".  With --force a sample of another region replaces the previous
    sample's stations (the deletion is one undoable batch); nothing else in the registry changes.
    """
    from .samples import load_sample

    info = load_sample(c.registry, c.home, region=region, force=force)
    click.echo(_sample_message(info))


def _sample_message(info: dict[str, Any]) -> str:
    """The bilingual one-line report of :func:`yizhan.samples.load_sample`."""
    if not info.get("loaded"):
        return (f"数据目录已有 {info['stations']} 个站点，未载入样例 / the home already has "
                f"{info['stations']} stations; sample not loaded")
    zh = f"已载入{info['name']}样例：{info['stations']} 个站点，{info['hotspots']} 个热点 → {info['hotspots_file']}"
    en = f"loaded the {info['name_en']} sample: {info['stations']} stations, {info['hotspots']} hotspots"
    if info.get("roads_file"):
        zh += f"，公路走廊 → {info['roads_file']}"
        en += ", highway corridors"
    if info.get("replaced"):
        zh += f"；已删除上一个样例的 {info['replaced']} 个站点（批次 {info['replaced_batch']}，可撤销）"
        en += f"; removed {info['replaced']} stations of the previous sample (batch {info['replaced_batch']}, undoable)"
    return f"{zh} / {en}"


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址 / address to listen on")
@click.option("--port", type=int, default=5000, show_default=True, help="端口 / port")
@click.option("--production", is_flag=True,
              help="用 gunicorn 多进程生产服务器 / serve with gunicorn (several worker processes)")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="gunicorn 工作进程数（默认 CPU 核数）/ worker processes (default: CPU count)")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="每个进程的线程数 / threads per worker")
@click.option("--debug", is_flag=True, help="Flask 调试模式 / debug mode (development only)")
@click.option("--region", type=REGION_CHOICE, default=None,
              help="空数据目录载入哪个样例（默认 guangzhou）/ which sample to load into an empty home (default guangzhou)")
@pass_ctx
def serve(c: Context, host: str, port: int, production: bool, workers: int | None, threads: int, debug: bool,
          region: str | None) -> None:
    """启动网页服务（空数据目录自动载入样例，默认广州）/ serve the web app (loads a sample on an empty home)."""
    from .app import create_app
    from .samples import load_sample

    if c.registry.count() == 0:
        click.echo(_sample_message(load_sample(c.registry, c.home, region=region or "guangzhou")))
    elif region:
        click.echo(f"数据目录已有站点，未载入 {region} 样例（要替换请用 yizhan demo --region {region} --force）/ "
                   f"the home already has stations; the {region} sample was not loaded (use "
                   f"yizhan demo --region {region} --force to replace it)")
    if production:
        _serve_gunicorn(str(c.home), host, port, workers or (os.cpu_count() or 2), threads)
        return
    app = create_app({"HOME": str(c.home)})
    click.echo(f"驿站通已启动 / serving on http://{host}:{port}/  (Ctrl+C 退出 / to quit)")
    app.run(host=host, port=port, debug=debug, use_reloader=False)


def _serve_gunicorn(home: str, host: str, port: int, workers: int, threads: int) -> None:
    """Run the app under gunicorn (gthread workers) without a separate config file."""
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self) -> None:
            for key, value in {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                               "worker_class": "gthread", "timeout": 60, "graceful_timeout": 20,
                               "accesslog": None, "errorlog": "-", "loglevel": "warning"}.items():
                self.cfg.set(key, value)

        def load(self):  # noqa: ANN202
            from .app import create_app

            return create_app({"HOME": home})

    click.echo(f"驿站通（生产模式，{workers} 进程 x {threads} 线程）/ serving with gunicorn on http://{host}:{port}/")
    _App().run()


def _scheduler_options(func):  # noqa: ANN001, ANN202
    """--scheduler, --workers and --storage-options (analyze and site)."""
    func = click.option("--storage-options", "storage_options", default=None,
                        help='fsspec 存储参数 JSON（如 S3 兼容存储）/ fsspec storage options as JSON, e.g. '
                             '\'{"endpoint_url": "http://minio:9000"}\'')(func)
    func = click.option("--workers", type=click.IntRange(1, 1024), default=None,
                        help="Dask 工作进程数（local：启动几个；tcp：等待几个）/ Dask workers (local: how many to "
                             "start; tcp: how many to wait for)")(func)
    return click.option("--scheduler", default=None,
                        help="用 Dask 计算：local 为本机临时集群，tcp://主机:端口 为已运行的集群；不给则单机计算 / run on "
                             "Dask: 'local' starts a LocalCluster, tcp://HOST:PORT uses a running scheduler; "
                             "without it one machine")(func)


def _parse_storage_options(text: str | None, scheduler: str | None, workers: int | None) -> dict[str, Any] | None:
    if workers and not scheduler:
        raise click.UsageError("--workers 需要 --scheduler / --workers needs --scheduler")
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"不是 JSON / not JSON: {exc}", param_hint="--storage-options") from None
    if not isinstance(value, dict):
        raise click.BadParameter("应为 JSON 对象 / must be a JSON object", param_hint="--storage-options")
    return value


HOTSPOTS_HELP = ("热点：文件、文件夹或通配符（CSV/Parquet，支持 hive 分区目录；单个文件还可为 GeoJSON/XLSX），可为 "
                 "fsspec 地址如 s3://… / hotspots: a file, a folder or a glob of CSV/Parquet files (hive folders "
                 "key=value read as columns), local or an fsspec URL such as s3://bucket/hotspots/*.parquet")


@main.command()
@click.option("--hotspots", "hotspots_file", default=None, help=HOTSPOTS_HELP + " (或 --dataset / or --dataset)")
@DATASET_OPTION
@click.option("--hotspot-crs", type=CRS_CHOICE, default="wgs84", show_default=True, help="热点坐标系 / hotspot CRS")
@click.option("--res", type=click.IntRange(7, 11), default=9, show_default=True, help="H3 分辨率 / H3 resolution")
@click.option("--metric", type=click.Choice(["great-circle", "grid", "network"]), default="great-circle",
              show_default=True, help="距离度量 / distance metric")
@click.option("--osm", "osm_file", type=click.Path(dir_okay=False), default=None,
              help="本地 OpenStreetMap 文件（.osm/.osm.pbf），network 度量需要 / local OSM file for --metric network")
@click.option("--mode", type=click.Choice(["ebike", "walk", "car", "truck"]), default=None,
              help="出行方式（默认按群体：骑手/快递员 ebike，司机 car/truck）/ travel mode")
@click.option("--group", default=None, help="劳动者群体 / worker group (外卖配送员, 快递员, 网约车司机, 货车司机, 其他户外劳动者)")
@click.option("--threshold-m", type=float, default=None,
              help="覆盖距离阈值（米），默认按群体 / coverage threshold in metres (default per group)")
@click.option("--hour", type=click.IntRange(0, 23), default=None,
              help="只看该小时（站点按开放时间过滤）/ one hour of the day (stations filtered by opening hours)")
@click.option("--weekday", type=click.IntRange(0, 6), default=0, show_default=True,
              help="星期（0=周一）用于开放时间 / weekday for opening hours (0 = Monday)")
@click.option("--floor", type=float, default=0.0, show_default=True,
              help="空白点的最低需求 / demand floor for blank spots")
@click.option("--hourly", is_flag=True, help="另算 24 小时覆盖（hourly.csv）/ also compute coverage per hour")
@click.option("--skip-bad-rows", is_flag=True, help="跳过有问题的热点行 / skip bad hotspot rows (listed)")
@click.option("--highways", "highways_file", type=click.Path(dir_okay=False), default=None,
              help="带编号公路的 OSM 文件：另做公路走廊分析（群体为 --group，未给时为货车司机）/ OSM file of "
                   "numbered highways: also analyse corridors (for --group, default 货车司机)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder")
@click.option("--quiet", is_flag=True, help="不显示进度 / no progress bar")
@_scheduler_options
@pass_ctx
def analyze(c: Context, hotspots_file: str | None, dataset_id: int | None, hotspot_crs: str, res: int, metric: str,
            osm_file: str | None, mode: str | None, group: str | None, threshold_m: float | None, hour: int | None, weekday: int,
            floor: float, hourly: bool, skip_bad_rows: bool, highways_file: str | None, out_dir: str,
            quiet: bool, scheduler: str | None, workers: int | None, storage_options: str | None) -> None:
    """覆盖分析：距最近站点的距离、空白点、盲区、分区汇总 / coverage analysis of hotspots by the registry's stations.

    写出 DIR/run.json：引擎、调度器、工作进程、分区、输入行数和各步用时 / writes DIR/run.json: engine, scheduler,
    workers, partitions, input rows and the time of each step."""
    import time

    from tqdm import tqdm

    from .coverage import aggregate, coverage_by_hour, read_hotspots
    from .coverage import analyze as run_analysis
    from .coverage.outputs import write_outputs
    from .stations import ImportValidationError

    source = _hotspot_source(c, hotspots_file, dataset_id, hotspot_crs, scheduler)
    group = _check_metric_and_group(metric, osm_file, group)
    storage = _parse_storage_options(storage_options, scheduler, workers)
    highway_ways = _corridor_ways(highways_file, None, "--highways") if highways_file else None
    steps = ["hotspots", "demand grid"] + (["road network"] if metric == "network" else []) + ["coverage", "outputs"]
    steps += ["corridors"] if highway_ways is not None else []
    bar = tqdm(total=len(steps) + (1 if hourly else 0), disable=quiet, unit="step", file=sys.stderr)
    started = time.time()
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def step(name: str) -> None:
        bar.set_description(name)

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 3)
        clock[0] = now

    def rejected(exc: ImportValidationError) -> None:
        bar.close()
        click.echo(exc.report(), err=True)
        sys.exit(2)

    def skipped(n: int, problems: list) -> None:
        if n:
            click.echo(f"跳过 {n} 行 / skipped {n} row(s)", err=True)
            for p in problems[:50]:
                click.echo("  " + p.format(), err=True)

    stations = c.registry.stations()
    network = None
    if metric == "network":
        step("构建道路网络 / building the road network")
        network = _load_network(c, osm_file, mode, group)
        bar.update()
        lap("network")
    run_info: dict[str, Any]
    if scheduler:
        from .coverage.cluster import analyze_on_cluster, connect, process_memory

        step("Dask：读取、汇总、计算覆盖 / Dask: read, aggregate, measure")
        try:
            with connect(scheduler, workers) as client:
                run = analyze_on_cluster(client, hotspots_file, stations, crs=hotspot_crs, res=res, metric=metric,
                                         group=group, hour=hour, weekday=weekday, threshold_m=threshold_m,
                                         thresholds=c.config["THRESHOLDS_M"], network=network, floor=floor,
                                         hourly=hourly, skip_bad_rows=skip_bad_rows, tz=c.config["TIMEZONE"],
                                         storage_options=storage)
                memory = process_memory(client)
        except ImportValidationError as exc:
            rejected(exc)
        except (ValueError, OSError) as exc:
            bar.close()
            raise click.UsageError(str(exc)) from exc
        result, table = run.result, run.hourly
        skipped(run.info["n_skipped"], run.info["skipped"])
        bar.update(3 + (1 if hourly else 0))
        timings.update({k: round(v, 3) for k, v in run.info["steps"].items()})
        clock[0] = time.perf_counter()
        run_info = {"engine": "dask", "scheduler": scheduler, "workers": run.info["workers"],
                    "threads": run.info["threads"], "partitions": run.info["partitions"],
                    "buckets": run.info["buckets"], "input_rows": run.info["input_rows"],
                    "points": run.info["points"], "skipped_rows": run.info["n_skipped"], "peak_rss_mib": memory}
    else:
        step("读取热点 / reading hotspots")
        try:
            points = _dataset_points(c, dataset_id) if dataset_id is not None else \
                read_hotspots(hotspots_file, crs=hotspot_crs, skip_bad_rows=skip_bad_rows, tz=c.config["TIMEZONE"],
                              storage_options=storage)
        except ImportValidationError as exc:
            rejected(exc)
        except OSError as exc:
            bar.close()
            raise click.UsageError(str(exc)) from exc
        skipped(points.attrs.get("n_skipped", 0), points.attrs.get("skipped", []))
        run_info = {"engine": "single", "scheduler": None, "workers": None, "threads": None,
                    "partitions": points.attrs.get("partitions", 1), "buckets": None,
                    "input_rows": points.attrs.get("n_rows", len(points)), "points": len(points),
                    "skipped_rows": points.attrs.get("n_skipped", 0)}
        bar.update()
        lap("read")
        step("汇总到 H3 网格 / aggregating to H3")
        demand = aggregate(points, res)
        del points
        bar.update()
        lap("aggregate")
        step("计算覆盖 / measuring coverage")
        try:
            result = run_analysis(stations, demand, metric=metric, group=group, hour=hour, weekday=weekday,
                                  threshold_m=threshold_m, thresholds=c.config["THRESHOLDS_M"], network=network,
                                  floor=floor)
        except ValueError as exc:
            bar.close()
            raise click.UsageError(str(exc)) from exc
        bar.update()
        lap("coverage")
        table = None
        if hourly:
            step("逐小时覆盖 / coverage per hour")
            table = coverage_by_hour(stations, demand, metric=metric, group=group, weekday=weekday,
                                     threshold_m=threshold_m, thresholds=c.config["THRESHOLDS_M"], network=network)
            bar.update()
            lap("hourly")
    corridor_result = None
    if highway_ways is not None:
        from .coverage.corridors import analyze_corridors

        step("公路走廊 / highway corridors")
        corridor_result = analyze_corridors(highway_ways, stations, group=group or "货车司机")
        bar.update()
        lap("corridors")
    step("写出结果 / writing outputs")
    write_outputs(result, out_dir, hourly=table, corridors=corridor_result)
    bar.update()
    bar.close()
    lap("outputs")
    _write_run_json(out_dir, run_info, source=source, started=started, timings=timings)
    click.echo(_format_summary(result, out_dir, table))
    if corridor_result is not None:
        click.echo("\n" + _format_corridors(corridor_result))
        click.echo("走廊结果 / corridor outputs: corridors.csv, corridor_gaps.geojson, summary.xlsx "
                   "(走廊 corridors, 走廊空白 corridor gaps)")


def _write_run_json(out_dir: str, info: dict[str, Any], *, source: str, started: float,
                    timings: dict[str, float]) -> None:
    """DIR/run.json: what ran (engine, scheduler, workers, partitions), the input rows, the time of
    each step and the peak memory of this process (and, on Dask, of the scheduler and workers)."""
    import datetime as dt
    import resource
    import time

    info = dict(info)
    memory = dict(info.pop("peak_rss_mib", None) or {})
    memory["client"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    record = {**info, "source": source, "started_at": dt.datetime.fromtimestamp(started).astimezone().isoformat(),
              "total_s": round(time.time() - started, 3), "steps": timings, "peak_rss_mib": memory}
    Path(out_dir, "run.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")


def _check_metric_and_group(metric: str, osm_file: str | None, group: str | None) -> str | None:
    """Usage checks shared by analyze and site; returns the canonical worker group."""
    from .stations import model

    if metric == "network" and not osm_file:
        raise click.UsageError("--metric network 需要 --osm 文件 / --metric network needs --osm FILE")
    if not group:
        return None
    try:
        return model.canonical_group(group)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--group") from None


def _load_network(c: Context, osm_file: str, mode: str | None, group: str | None):  # noqa: ANN202
    """The road network for the group's travel mode (riders e-bike, ride-hailing car, trucks truck), cached."""
    from .geodata.roads import load_network

    travel = mode or ("truck" if group == "货车司机" else "car" if group == "网约车司机" else "ebike")
    return load_network(osm_file, mode=travel, cache_dir=c.home / "cache")


def _format_summary(result, out_dir: str, hourly) -> str:  # noqa: ANN001
    p = result.params
    lines = [f"覆盖分析 / coverage: 度量 {p['metric']}，分辨率 {p['res']}，群体 {p['group'] or '全部'}，"
             f"小时 {p['hour'] if p['hour'] is not None else '全天'}，阈值 {p['threshold_m']:.0f} 米，"
             f"参与站点 {p['n_stations']}，热点 {p['n_points']}",
             f"总需求 {result.cells['demand'].sum():.0f}，覆盖率 {result.covered_share:.1%}，"
             f"空白点 {len(result.blank_spots)}，盲区 {len(result.blind_zones)}，"
             f"无站点区县 {len(result.admin_blind_zones)}",
             "", f"{'区县 district':<14}{'站点':>6}{'需求':>10}{'覆盖率':>9}{'平均距离(米)':>14}{'空白点':>8}{'盲区':>7}"]
    for r in result.summary.itertuples(index=False):
        share = "-" if r.covered_share != r.covered_share else f"{r.covered_share:.1%}"
        mean = "-" if r.mean_distance_m != r.mean_distance_m else f"{r.mean_distance_m:.0f}"
        lines.append(f"{(r.name or r.adcode)[:12]:<14}{r.n_stations:>6}{r.demand:>10.0f}{share:>9}{mean:>14}"
                     f"{r.n_blank_spots:>8}{r.n_blind_zones:>7}")
    if hourly is not None:
        worst = hourly.loc[hourly["covered_share"].idxmin()] if hourly["covered_share"].notna().any() else None
        if worst is not None:
            lines.append(f"\n覆盖最低的时段 / worst hour: {int(worst['hour']):02d}:00，覆盖率 {worst['covered_share']:.1%}，"
                         f"开放站点 {int(worst['open_stations'])}")
    lines.append(f"\n结果已写入 / outputs in {out_dir}: cells.parquet, blank_spots.geojson, blind_zones.geojson, "
                 "summary.csv, summary.xlsx")
    return "\n".join(lines)


# -- highway corridors --------------------------------------------------------------------------------
def _corridor_params(group: str, station_radius_m: float, reach_km: float, max_gap_km: float) -> str:
    """Usage checks of the corridor options; returns the canonical worker group."""
    import math

    from .stations import model

    try:
        canonical = model.canonical_group(group)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--group") from None
    if not (math.isfinite(station_radius_m) and station_radius_m > 0):
        raise click.BadParameter("站点半径应为正数（米） / must be a positive number of metres",
                                 param_hint="--station-radius-m")
    if not (math.isfinite(reach_km) and reach_km >= 0):
        raise click.BadParameter("可达距离应为非负数（公里） / must be a non-negative number of km",
                                 param_hint="--reach-km")
    if not (math.isfinite(max_gap_km) and max_gap_km > 0):
        raise click.BadParameter("最大间隔应为正数（公里） / must be a positive number of km", param_hint="--max-gap-km")
    return canonical


def _corridor_ways(osm_file: str, refs: list[str] | None, option: str = "--osm"):  # noqa: ANN202
    """The highway ways of the file (only ``refs`` when given); bad file or ref -> BadParameter."""
    from .geodata.highways import UnknownRefError, read_corridor_ways

    if not Path(osm_file).is_file():
        raise click.BadParameter(f"找不到道路文件 / highway file not found: {osm_file}", param_hint=option)
    try:
        return read_corridor_ways(osm_file, refs=refs)
    except UnknownRefError as exc:
        raise click.BadParameter(str(exc), param_hint="--ref") from None
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _pad(text: str, width: int, *, right: bool = False) -> str:
    """``text`` padded to ``width`` terminal columns (CJK characters take two)."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    fill = " " * max(width - used, 1 if right else 0)
    return fill + text if right else text + fill


def _format_corridors(result) -> str:  # noqa: ANN001
    """The corridor table and the longest gaps, for the terminal."""
    p = result.params
    lines = [f"公路走廊 / highway corridors: 群体 {p['group'] or '全部'}，站点半径 {p['station_radius_m']:.0f} 米，"
             f"可达 {p['reach_km']:g} 公里，最大间隔 {p['max_gap_km']:g} 公里，参与站点 {p['n_stations']}，"
             f"走廊 {p['n_corridors']}"]
    if result.corridors.empty:
        lines.append("文件中没有带编号的 motorway/trunk/primary 公路 / no numbered motorway/trunk/primary way "
                     "in the file")
        return "\n".join(lines)
    widths = (12, 10, 8, 10, 13, 10, 10)
    for head in (("编号", "长度(公里)", "段数", "服务站点", "最长空白(公里)", "超长空白", "可达比例", "名称"),
                 ("ref", "length_km", "pieces", "stations", "longest_gap", "over_max", "in_reach", "name")):
        lines.append(_pad(head[0], widths[0]) + "".join(_pad(h, w, right=True) for h, w in zip(head[1:], widths[1:]))
                     + "  " + head[-1])
    for r in result.corridors.itertuples(index=False):
        cells = (f"{r.length_km:.1f}", f"{r.pieces:d}", f"{r.stations:d}", f"{r.longest_gap_km:.1f}",
                 f"{r.n_gaps_over_max:d}", f"{r.share_within_reach:.1%}")
        lines.append(_pad(r.ref, widths[0]) + "".join(_pad(c, w, right=True) for c, w in zip(cells, widths[1:]))
                     + "  " + r.name)
    gaps = result.gap_rows().head(10)
    if len(gaps):
        lines += ["", "最长的空白 / longest gaps:"]
        for i, g in enumerate(gaps.itertuples(index=False), 1):
            over = f"（超过 {p['max_gap_km']:g} 公里 / over max）" if g.over_max else ""
            lines.append(f"{i:>3}. {g.ref} {g.name} {g.direction} 第{g.piece}段 / piece {g.piece}: "
                         f"{g.from_km:.1f}–{g.to_km:.1f} km，{g.length_km:.1f} 公里{over}")
    return "\n".join(lines)


@main.command()
@click.option("--osm", "osm_file", required=True, type=click.Path(dir_okay=False),
              help="本地 OpenStreetMap 文件（.osm/.osm.pbf），读取带编号的 motorway/trunk/primary 公路 / "
                   "local OSM file with the numbered highways")
@click.option("--ref", "refs", multiple=True,
              help="公路编号（可重复或用逗号分隔，如 G6,G109；默认全部）/ highway ref(s), repeatable or "
                   "comma-separated (default: every ref)")
@click.option("--group", default="货车司机", show_default=True, help="劳动者群体 / worker group the stations serve")
@click.option("--station-radius-m", type=float, default=2000.0, show_default=True,
              help="站点距公路的最大距离（米）/ how far from the road a station may be (metres)")
@click.option("--reach-km", type=float, default=25.0, show_default=True,
              help="沿公路的可达距离（公里），用于可达比例 / reach along the road for share_within_reach (km)")
@click.option("--max-gap-km", type=float, default=50.0, show_default=True,
              help="超过此长度的空白标为超长（公里）/ gaps longer than this are flagged (km)")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON 列表（最长空白在前）/ print a JSON list, longest gap first")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="写出 corridors.csv 与 corridor_gaps.geojson 的目录 / folder for corridors.csv and "
                   "corridor_gaps.geojson")
@pass_ctx
def corridors(c: Context, osm_file: str, refs: tuple[str, ...], group: str, station_radius_m: float,
              reach_km: float, max_gap_km: float, as_json: bool, out_dir: str | None) -> None:
    """公路走廊空白：沿国道/高速两个服务站点之间的距离 / gaps between in-service stations along numbered highways."""
    from .coverage.corridors import analyze_corridors, write_corridor_outputs

    group = _corridor_params(group, station_radius_m, reach_km, max_gap_km)
    ways = _corridor_ways(osm_file, list(refs) or None)
    try:
        result = analyze_corridors(ways, c.registry.stations(), group=group, station_radius_m=station_radius_m,
                                   reach_km=reach_km, max_gap_km=max_gap_km)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    written = write_corridor_outputs(result, out_dir) if out_dir else []
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=1))
    else:
        click.echo(_format_corridors(result))
    if written:
        click.echo(f"结果已写入 / outputs in {out_dir}: " + ", ".join(p.name for p in written), err=as_json)


@main.command()
@click.option("--hotspots", "hotspots_file", default=None, help=HOTSPOTS_HELP + " (或 --dataset / or --dataset)")
@DATASET_OPTION
@click.option("--hotspot-crs", type=CRS_CHOICE, default="wgs84", show_default=True)
@click.option("--k", type=click.IntRange(1, 10000), default=None, help="新站点个数（mclp）/ number of new sites (mclp)")
@click.option("--candidates", "candidates_file", type=click.Path(dir_okay=False), default=None,
              help="候选点 CSV/XLSX（lon,lat[,name,host]）/ candidate sites file")
@click.option("--candidate-crs", type=CRS_CHOICE, default="wgs84", show_default=True)
@click.option("--osm", "osm_file", type=click.Path(dir_okay=False), default=None,
              help="从 OSM 文件提取候选点（党群服务中心、超市、银行、快递点、加油站、物流园）并用作道路网 / OSM file")
@click.option("--objective", type=click.Choice(["mclp", "lscp"]), default="mclp", show_default=True,
              help="mclp：k 个站点覆盖最多需求；lscp：最少站点达到目标覆盖率")
@click.option("--target-share", type=click.FloatRange(0, 1, min_open=True), default=0.9, show_default=True,
              help="lscp 的目标覆盖率 / target covered share for lscp")
@click.option("--solver", type=click.Choice(["greedy", "exact"]), default="greedy", show_default=True,
              help="greedy：快速贪心；exact：HiGHS 整数规划（报告最优性差距）")
@click.option("--time-limit", type=float, default=60.0, show_default=True, help="exact 求解时限（秒）")
@click.option("--metric", type=click.Choice(["great-circle", "grid", "network"]), default="great-circle", show_default=True)
@click.option("--mode", type=click.Choice(["ebike", "walk", "car", "truck"]), default=None, help="network 出行方式")
@click.option("--res", type=click.IntRange(7, 11), default=9, show_default=True)
@click.option("--group", default=None, help="劳动者群体 / worker group")
@click.option("--threshold-m", type=float, default=None, help="覆盖阈值（米）/ coverage threshold")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), default=None,
              help="排序结果文件 .csv/.xlsx/.geojson / ranked list file")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON")
@click.option("--years", type=click.IntRange(1, 50), default=None,
              help="逐年规划的年数（mclp）：每年的新站点加入现有站点后再选下一年 / plan N years, year by year (mclp)")
@click.option("--per-year", default=None, metavar="K[,K2,...]",
              help="每年新站点数：一个数（每年相同）或逗号分隔的 N 个数；省略则用 --k / new sites per year: one K "
                   "for every year or a comma list of N values (default: --k)")
@click.option("--first-year", type=click.IntRange(1900, 9999), default=None, metavar="YYYY",
              help="第一年（默认：明年）/ first calendar year of the plan (default: next year)")
@_scheduler_options
@pass_ctx
def site(c: Context, hotspots_file: str | None, dataset_id: int | None, hotspot_crs: str, k: int | None, candidates_file: str | None,
         candidate_crs: str, osm_file: str | None, objective: str, target_share: float, solver: str,
         time_limit: float, metric: str, mode: str | None, res: int, group: str | None, threshold_m: float | None,
         out_file: str | None, as_json: bool, years: int | None, per_year: str | None, first_year: int | None,
         scheduler: str | None, workers: int | None, storage_options: str | None) -> None:
    """新站点选址（最大覆盖 / 集合覆盖；可逐年规划）/ propose new station sites (maximal or set covering;
    optionally year by year with --years)."""
    from .coverage import aggregate, read_hotspots
    from .coverage import analyze as run_analysis
    from .coverage.plan import plan_sites, plan_years
    from .stations import ImportValidationError

    _hotspot_source(c, hotspots_file, dataset_id, hotspot_crs, scheduler)
    counts = _site_year_counts(years, per_year, first_year, k, objective)
    if objective == "mclp" and not k and counts is None:
        raise click.UsageError("--objective mclp 需要 --k / mclp needs --k")
    if candidates_file and osm_file and metric != "network":
        raise click.UsageError("--candidates 与 --osm 只能选一个 / give --candidates or --osm, not both")
    group = _check_metric_and_group(metric, osm_file, group)
    storage = _parse_storage_options(storage_options, scheduler, workers)
    try:
        if scheduler:
            points = None
        elif dataset_id is not None:
            points = _dataset_points(c, dataset_id)
        else:
            points = read_hotspots(hotspots_file, crs=hotspot_crs, tz=c.config["TIMEZONE"], storage_options=storage)
        candidates = None
        if candidates_file:
            from .coverage.candidates import read_candidates

            candidates = read_candidates(candidates_file, crs=candidate_crs)
        elif osm_file:
            from .coverage.candidates import candidates_from_osm

            kinds = ("加油站", "物流园区") if group == "货车司机" else None
            candidates = candidates_from_osm(osm_file, kinds=kinds)
            if candidates.empty:
                raise click.UsageError("OSM 文件中没有可用作候选点的设施 / no candidate facilities in the OSM file")
    except ImportValidationError as exc:
        click.echo(exc.report(), err=True)
        sys.exit(2)
    network = None
    if metric == "network":
        network = _load_network(c, osm_file, mode, group)
    try:
        if scheduler:               # the demand step on Dask (the siting itself works on the cells)
            from .coverage.cluster import analyze_on_cluster, connect

            with connect(scheduler, workers) as client:
                result = analyze_on_cluster(client, hotspots_file, c.registry.stations(), crs=hotspot_crs, res=res,
                                            metric=metric, group=group, threshold_m=threshold_m,
                                            thresholds=c.config["THRESHOLDS_M"], network=network,
                                            tz=c.config["TIMEZONE"], storage_options=storage).result
        else:
            demand = aggregate(points, res)
            result = run_analysis(c.registry.stations(), demand, metric=metric, group=group, threshold_m=threshold_m,
                                  thresholds=c.config["THRESHOLDS_M"], network=network)
        if counts is not None:
            if first_year is None:
                from datetime import datetime
                from zoneinfo import ZoneInfo

                first_year = datetime.now(ZoneInfo(c.config["TIMEZONE"])).year + 1
            plan = plan_years(result, candidates, per_year=counts, first_year=first_year, solver=solver,
                              network=network, time_limit_s=time_limit)
        else:
            plan = plan_sites(result, candidates, k=k, objective=objective, target_share=target_share,
                              solver=solver, network=network, time_limit_s=time_limit)
    except ImportValidationError as exc:          # hotspots read on Dask
        click.echo(exc.report(), err=True)
        sys.exit(2)
    except (ValueError, OSError) as exc:          # OSError: the scheduler cannot be reached
        raise click.UsageError(str(exc)) from exc
    if out_file:
        _write_sites(plan.sites, out_file)
    if as_json:
        click.echo(json.dumps(plan.as_dict(), ensure_ascii=False, indent=1))
        return
    if counts is not None:
        _echo_year_plan(plan)
        return
    r = plan.result
    click.echo(f"选址 / siting: {objective} ({r.solver}, {r.status})，候选点 {len(plan.candidates)}，"
               f"覆盖需求 {r.covered_before:.0f} → {r.covered_after:.0f} / {r.total_demand:.0f}"
               f"（{r.share_before:.1%} → {r.share_after:.1%}）" + (f"，最优性差距 {r.gap:.2%}" if r.gap is not None else ""))
    if getattr(r, "message", ""):
        click.echo(r.message)
    for s in plan.sites.itertuples(index=False):
        label = s.name if isinstance(s.name, str) and s.name else f"{s.lon:.6f}, {s.lat:.6f}"
        click.echo(f"{s.rank:>3}. {label}  新增覆盖 +{s.gain:.0f}  累计 {s.share:.1%}")


def _site_year_counts(years: int | None, per_year: str | None, first_year: int | None, k: int | None,
                      objective: str) -> list[int] | None:
    """New sites per year for ``site --years`` (None without --years); UsageError on bad options."""
    if years is None:
        if per_year is not None or first_year is not None:
            raise click.UsageError("--per-year 与 --first-year 需要 --years / --per-year and --first-year need --years")
        return None
    if objective != "mclp":
        raise click.UsageError("--years 只适用于 --objective mclp / --years needs the mclp objective")
    if per_year is not None and k is not None:
        raise click.UsageError("--k 与 --per-year 只能选一个 / give --k or --per-year, not both")
    if per_year is None:
        if not k:
            raise click.UsageError("--years 需要 --per-year 或 --k / --years needs --per-year or --k")
        return [int(k)] * years
    try:
        counts = [int(part) for part in per_year.split(",")]
    except ValueError:
        raise click.UsageError(f"--per-year 应为整数或逗号分隔的整数，得到 {per_year!r} / --per-year must be an "
                               f"integer or a comma list of integers, got {per_year!r}") from None
    if len(counts) == 1:
        counts = counts * years
    if len(counts) != years:
        raise click.UsageError(f"--per-year 给出 {len(counts)} 个数，但 --years 为 {years} / --per-year lists "
                               f"{len(counts)} values for --years {years}")
    if any(n < 0 for n in counts) or sum(counts) < 1:
        raise click.UsageError("--per-year 的数应为非负整数且至少一个 ≥ 1 / --per-year values must be >= 0 with at "
                               "least one >= 1")
    return counts


def _echo_year_plan(plan) -> None:  # noqa: ANN001
    click.echo(f"逐年选址 / siting year by year: mclp ({plan.solver}, {plan.status})，候选点 {len(plan.candidates)}，"
               f"覆盖需求 {plan.covered_before:.0f} → {plan.covered_after:.0f} / {plan.total_demand:.0f}"
               f"（{plan.share_before:.1%} → {plan.share_after:.1%}）")
    for y in plan.years:
        click.echo(f"{y.year} 年：新站点 {len(y.sites)}（{y.solver}），新增覆盖 +{y.gain:.0f}，累计 {y.share_after:.1%}")
        if y.message:
            click.echo(f"  {y.message}")
        for s in y.sites.itertuples(index=False):
            label = s.name if isinstance(s.name, str) and s.name else f"{s.lon:.6f}, {s.lat:.6f}"
            click.echo(f"  {s.rank:>3}. {label}  新增覆盖 +{s.gain:.0f}  累计 {s.share:.1%}")


def _write_sites(sites, path: str) -> None:  # noqa: ANN001
    from .stations.export import neutralize_formulas

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        neutralize_formulas(sites).to_csv(p, index=False, encoding="utf-8-sig")
    elif suffix == ".xlsx":
        neutralize_formulas(sites).to_excel(p, index=False, sheet_name="选址")
    elif suffix in (".geojson", ".json"):
        from .coverage.outputs import write_points_geojson

        write_points_geojson(sites, p, columns=[c for c in sites.columns if c not in ("lon", "lat")])
    else:
        raise click.UsageError("--out 应为 .csv、.xlsx 或 .geojson / --out must end in .csv, .xlsx or .geojson")


# -- reports --------------------------------------------------------------------------------------------
@main.command()
@click.option("--area", required=True, metavar="ADCODE",
              help="省、市或区县的 6 位行政区划代码（或无歧义的名称，如 广州市）/ adcode of a province, city or "
                   "district (or an unambiguous Chinese name)")
@click.option("--hotspots", "hotspots_file", default=None,
              help=HOTSPOTS_HELP + "；默认为设置 HOTSPOTS_FILE 或 <home>/sample/hotspots.csv / default: the "
                   "HOTSPOTS_FILE setting or <home>/sample/hotspots.csv")
@DATASET_OPTION
@click.option("--hotspot-crs", type=CRS_CHOICE, default="wgs84", show_default=True, help="热点坐标系 / hotspot CRS")
@click.option("--group", default=None, help="劳动者群体 / worker group (外卖配送员, 快递员, 网约车司机, 货车司机, 其他户外劳动者)")
@click.option("--metric", type=click.Choice(["great-circle", "grid"]), default="great-circle", show_default=True,
              help="距离度量 / distance metric")
@click.option("--res", type=click.IntRange(7, 11), default=9, show_default=True, help="H3 分辨率 / H3 resolution")
@click.option("--threshold-m", type=float, default=None,
              help="覆盖距离阈值（米），默认按群体 / coverage threshold in metres (default per group)")
@click.option("--years", type=click.IntRange(1, 50), default=None,
              help="另做逐年规划（年数）并在报告中画出 / add a plan year by year (N years) to the report")
@click.option("--per-year", default=None, metavar="K[,K2,...]",
              help="逐年规划每年新站点数 / new sites per year of the plan (one K or a comma list of N values)")
@click.option("--first-year", type=click.IntRange(1900, 9999), default=None, metavar="YYYY",
              help="逐年规划的第一年（默认：明年）/ first year of the plan (default: next year)")
@click.option("--skip-bad-rows", is_flag=True, help="跳过有问题的热点行 / skip bad hotspot rows (listed)")
@click.option("--compare-dataset", "compare_id", type=int, default=None, metavar="ID",
              help="与较早的热点数据集对比，报告增加“变化”一节（yizhan datasets list）/ add a section on the change "
                   "since this earlier hotspot dataset")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False),
              help="报告文件 .pdf 或 .html / the report file, .pdf or .html")
@pass_ctx
def report(c: Context, area: str, hotspots_file: str | None, dataset_id: int | None, hotspot_crs: str,
           group: str | None, metric: str, res: int, threshold_m: float | None, years: int | None,
           per_year: str | None, first_year: int | None, skip_bad_rows: bool, compare_id: int | None,
           out_file: str) -> None:
    """覆盖分析报告（中文，含地图与图表）/ a coverage report of a province, city or district (Chinese; map,
    charts, tables), as PDF (headless Chromium) or one self-contained HTML file."""
    from .coverage.report import ReportError, report_from_registry, resolve_area

    if Path(out_file).suffix.lower() not in (".pdf", ".html", ".htm"):
        raise click.UsageError("--out 应以 .pdf 或 .html 结尾 / --out must end in .pdf or .html")
    try:
        code = resolve_area(area)
    except ReportError as exc:
        raise click.BadParameter(str(exc), param_hint="--area") from None
    group = _check_metric_and_group(metric, None, group)
    counts = _site_year_counts(years, per_year, first_year, None, "mclp")
    if dataset_id is not None:
        source = _hotspot_source(c, hotspots_file, dataset_id, hotspot_crs, None)
        points = _dataset_points(c, dataset_id)
    else:
        points, source = _report_hotspots(c, hotspots_file, hotspot_crs, skip_bad_rows)
    compare: dict[str, Any] = {}
    if compare_id is not None:
        earlier = _dataset_points(c, compare_id)
        compare = {"compare_with": earlier, "compare_name": earlier.attrs["dataset"]["name"]}
    try:
        made = report_from_registry(c.registry, points, area=code, config=c.config, group=group, metric=metric,
                                    res=res, threshold_m=threshold_m, years=years, per_year=counts,
                                    first_year=first_year, source=source, **compare)
        path = made.write(out_file)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    f = made.figures
    share = "—" if f["covered_share"] != f["covered_share"] else f"{f['covered_share']:.1%}"
    click.echo(f"{f['title']}：站点 {f['n_stations']}，需求覆盖率 {share}，空白点 {f['n_blank_spots']}，"
               f"盲区 {f['n_blind_zones']}，无站点区县 {f['n_admin']}")
    if "change" in f:
        ch = f["change"]
        click.echo(f"自“{ch['before_name']}”以来 / since {ch['before_name']}: 需求覆盖率 {_share(ch['covered_share_before'])}"
                   f" → {_share(ch['covered_share_after'])}，失去覆盖 {ch['n_lost_coverage']}，新增未覆盖需求 "
                   f"{ch['n_new_uncovered_demand']}，新获覆盖 {ch['n_gained_coverage']}，新盲区 {ch['n_new_zones']}")
    click.echo(f"报告已写入 / report written: {path}")


def _report_hotspots(c: Context, hotspots_file: str | None, crs: str, skip_bad_rows: bool):  # noqa: ANN202
    """The hotspot points of ``yizhan report`` and how to name them: --hotspots, else the
    HOTSPOTS_FILE setting, else the sample's; exit 2 with the report when rows are rejected."""
    from .coverage import read_hotspots
    from .stations import ImportValidationError

    source = hotspots_file
    if source is None:
        configured = c.config.get("HOTSPOTS_FILE")
        path = Path(configured) if configured else c.home / "sample" / "hotspots.csv"
        path = path if path.is_absolute() else c.home / path
        if not path.is_file():
            raise click.UsageError("没有热点数据：请用 --hotspots 指定，或设置 HOTSPOTS_FILE，或运行 yizhan demo 载入样例 / "
                                   "no hotspots: give --hotspots FILE, set HOTSPOTS_FILE or run `yizhan demo`")
        source = str(path)
    try:
        points = read_hotspots(source, crs=crs, skip_bad_rows=skip_bad_rows, tz=c.config["TIMEZONE"])
    except ImportValidationError as exc:
        click.echo(exc.report(), err=True)
        sys.exit(2)
    except OSError as exc:
        raise click.UsageError(str(exc)) from exc
    if points.attrs.get("n_skipped"):
        click.echo(f"跳过 {points.attrs['n_skipped']} 行 / skipped {points.attrs['n_skipped']} row(s)", err=True)
    return points, source


# -- change over time -----------------------------------------------------------------------------------
@main.command()
@click.option("--before", "before_id", type=int, default=None, metavar="ID",
              help="较早的热点数据集（当时）/ the earlier hotspot dataset (then; yizhan datasets list)")
@click.option("--after", "after_id", type=int, default=None, metavar="ID",
              help="较新的热点数据集（现在）/ the later hotspot dataset (now)")
@click.option("--before-hotspots", "before_file", default=None, metavar="FILE",
              help="较早的热点文件，代替 --before / an earlier hotspot file instead of --before ID")
@click.option("--after-hotspots", "after_file", default=None, metavar="FILE",
              help="较新的热点文件，代替 --after / a later hotspot file instead of --after ID")
@click.option("--hotspot-crs", type=CRS_CHOICE, default="wgs84", show_default=True,
              help="热点文件的坐标系（只用于 --before-hotspots/--after-hotspots）/ CRS of the hotspot files")
@click.option("--group", default=None, help="劳动者群体 / worker group (外卖配送员, 快递员, 网约车司机, 货车司机, 其他户外劳动者)")
@click.option("--metric", type=click.Choice(["great-circle", "grid"]), default="great-circle", show_default=True,
              help="距离度量 / distance metric")
@click.option("--res", type=click.IntRange(7, 11), default=9, show_default=True, help="H3 分辨率 / H3 resolution")
@click.option("--threshold-m", type=float, default=None,
              help="覆盖距离阈值（米），默认按群体 / coverage threshold in metres (default per group)")
@click.option("--skip-bad-rows", is_flag=True, help="跳过热点文件中有问题的行 / skip bad rows of the hotspot files")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="写出 compare_districts.csv、compare_cells.geojson、new_blind_zones.geojson 等的目录 / folder for "
                   "compare_districts.csv, compare_cells.geojson, new_blind_zones.geojson …")
@click.option("--json", "as_json", is_flag=True,
              help="输出 JSON：headline（总体数字）与 districts（各区县当时与现在）/ print JSON: the headline and the "
                   "districts then and now")
@pass_ctx
def compare(c: Context, before_id: int | None, after_id: int | None, before_file: str | None, after_file: str | None,
            hotspot_crs: str, group: str | None, metric: str, res: int, threshold_m: float | None,
            skip_bad_rows: bool, out_dir: str | None, as_json: bool) -> None:
    """两期热点对比：各区县覆盖率当时与现在、失去或获得覆盖的网格、新盲区 / compare two hotspot datasets
    (then and now) analysed with the registry's stations: covered share per district, cells that lost or gained
    coverage, new blind zones.

    网格变化 / cell changes: lost_coverage（当时已覆盖，现在未覆盖 / covered then, uncovered now），
    new_uncovered_demand（当时无需求，现在未覆盖 / no demand then, uncovered now），gained_coverage（当时未覆盖，现在
    已覆盖 / uncovered then, covered now），demand_gone（当时未覆盖，现在无需求 / uncovered then, no demand now）。"""
    from .coverage import aggregate
    from .coverage import analyze as run_analysis
    from .coverage.compare import compare_results

    group = _check_metric_and_group(metric, None, group)
    sides = []
    for label, dataset_id, file in (("before", before_id, before_file), ("after", after_id, after_file)):
        if (dataset_id is None) == (file is None):
            raise click.UsageError(f"请给出 --{label} 数据集编号或 --{label}-hotspots 文件，二者只选一个 / give either "
                                   f"--{label} ID or --{label}-hotspots FILE (exactly one of the two)")
        if dataset_id is not None:
            points = _dataset_points(c, dataset_id)
            name = points.attrs["dataset"]["name"]
        else:
            points, _source = _report_hotspots(c, file, hotspot_crs, skip_bad_rows)
            name = Path(file).name
        sides.append((points, name))
    stations = c.registry.stations()
    results = []
    for points, _name in sides:
        try:
            results.append(run_analysis(stations, aggregate(points, res), metric=metric, group=group,
                                        threshold_m=threshold_m, thresholds=c.config["THRESHOLDS_M"]))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
    made = compare_results(results[0], results[1], before_name=sides[0][1], after_name=sides[1][1])
    written = made.write(out_dir) if out_dir else []
    if as_json:
        click.echo(json.dumps(made.to_json(), ensure_ascii=False, indent=1))
        return
    click.echo(_format_comparison(made))
    if written:
        click.echo(f"\n结果已写入 / outputs in {out_dir}: " + ", ".join(p.name for p in written))


def _share(value: float) -> str:
    return "-" if value != value else f"{value:.1%}"


def _pp(value: float) -> str:
    """A change in percentage points with its sign (``+1.2``, ``-0.4``, ``0.0``)."""
    if value != value:
        return "-"
    text = f"{value:+.1f}"
    return text[1:] if float(text) == 0 else text


def _format_comparison(made) -> str:  # noqa: ANN001
    """The headline and the districts table of ``yizhan compare``, for the terminal."""
    h = made.headline
    pp = _pp(h["change_pp"])
    lines = [f"对比 / comparison: “{h['before_name']}” → “{h['after_name']}”；度量 {h['metric']}，分辨率 {h['res']}，"
             f"群体 {h['group'] or '全部'}，阈值 {h['threshold_m']:.0f} 米，参与站点 {h['n_stations_before']} → "
             f"{h['n_stations_after']}",
             f"需求覆盖率 / covered share: {_share(h['covered_share_before'])} → {_share(h['covered_share_after'])}"
             f"（{pp} 个百分点 / pp），需求 / demand {h['demand_before']:.0f} → {h['demand_after']:.0f}",
             f"变为未覆盖 / became uncovered {h['n_became_uncovered']}：失去覆盖 lost_coverage {h['n_lost_coverage']}，"
             f"新增未覆盖需求 new_uncovered_demand {h['n_new_uncovered_demand']}",
             f"变为覆盖 / became covered {h['n_became_covered']}（gained_coverage）；未覆盖网格需求消失 demand_gone "
             f"{h['n_demand_gone']}",
             f"盲区 / blind zones {h['n_blind_zones_before']} → {h['n_blind_zones_after']}：新盲区 new {h['n_new_zones']}，"
             f"消失 gone {h['n_gone_zones']}", ""]
    widths = (14, 10, 10, 9, 9, 9, 8, 8, 8)
    head = ("区县 district", "需求(前)", "需求(后)", "覆盖率(前)", "覆盖率(后)", "变化(pp)", "失去覆盖", "新增未覆", "新获覆盖")
    lines.append(_pad(head[0], widths[0]) + "".join(_pad(t, w, right=True) for t, w in zip(head[1:], widths[1:])))
    for r in made.districts.itertuples(index=False):
        cells = (f"{r.demand_before:.0f}", f"{r.demand_after:.0f}", _share(r.covered_share_before),
                 _share(r.covered_share_after), _pp(r.change_pp), f"{r.n_lost_coverage:d}", f"{r.n_new_uncovered_demand:d}",
                 f"{r.n_gained_coverage:d}")
        lines.append(_pad((r.name or r.adcode).split(" / ")[0][:6], widths[0])
                     + "".join(_pad(t, w, right=True) for t, w in zip(cells, widths[1:])))
    return "\n".join(lines)


# -- hotspot datasets ----------------------------------------------------------------------------------
def _dataset_store(c: Context):  # noqa: ANN202
    from .coverage.datasets import DatasetStore

    return DatasetStore(c.registry, c.home, max_bytes=c.config["DATASET_MAX_BYTES"], tz=c.config["TIMEZONE"])


def _hotspot_source(c: Context, hotspots_file: str | None, dataset_id: int | None, hotspot_crs: str,
                    scheduler: str | None) -> str:
    """Usage checks of --hotspots FILE / --dataset ID (exactly one; an unknown dataset is a usage
    error); returns the source as run.json names it."""
    if (hotspots_file is None) == (dataset_id is None):
        raise click.UsageError("请给出 --hotspots 文件或 --dataset 数据集编号，二者只选一个 / give either --hotspots FILE "
                               "or --dataset ID (exactly one of the two)")
    if dataset_id is None:
        return hotspots_file
    if hotspot_crs.lower() != "wgs84":
        raise click.UsageError("--hotspot-crs 只适用于 --hotspots：数据集添加时已转换为 WGS-84 / --hotspot-crs applies to "
                               "--hotspots only: a dataset was converted to WGS-84 when it was added")
    if scheduler:
        raise click.UsageError("--dataset 在本机计算，不能与 --scheduler 同用 / --dataset is analysed on this machine and "
                               "cannot be combined with --scheduler")
    from .coverage.datasets import DatasetNotFound

    try:
        record = _dataset_store(c).require(dataset_id)
    except DatasetNotFound as exc:
        raise click.UsageError(str(exc)) from None
    return f"dataset:{record['id']} {record['name']}"


def _dataset_points(c: Context, dataset_id: int):  # noqa: ANN202
    from .coverage.datasets import DatasetNotFound

    try:
        return _dataset_store(c).hotspots(dataset_id)
    except DatasetNotFound as exc:
        raise click.UsageError(str(exc)) from None


@main.group("datasets")
def datasets() -> None:
    """热点数据集：添加、列出、改名、删除 / hotspot datasets: add, list, rename, remove.

    数据集是检查过的热点文件（转换为 WGS-84，存于 <home>/datasets），有名称和编号；analyze 与 site 可用
    --dataset 编号代替 --hotspots 文件 / a dataset is a checked hotspot file (converted to WGS-84, kept in
    <home>/datasets) with a name and an id; analyze and site take --dataset ID instead of --hotspots FILE."""


@datasets.command("add")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--name", required=True, help="数据集名称，如“2026年10月 平台订单”（不可重名）/ the dataset's name (unique)")
@click.option("--crs", type=CRS_CHOICE, default="wgs84", show_default=True,
              help="文件的坐标系 / coordinate system of the file (gcj02 = 高德/腾讯, bd09 = 百度)")
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "gbk"], case_sensitive=False),
              default="auto", show_default=True, help="CSV 文件编码 / CSV text encoding")
@click.option("--skip-bad-rows", is_flag=True,
              help="跳过有问题的行并列出（否则整个文件不添加）/ keep the good rows and list the skipped ones "
                   "(otherwise a bad row refuses the whole file)")
@click.option("--user", default="cli", show_default=True, help="记入历史的操作人 / who, for the history")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print the dataset as JSON")
@pass_ctx
def datasets_add(c: Context, file: str, name: str, crs: str, encoding: str, skip_bad_rows: bool, user: str,
                 as_json: bool) -> None:
    """添加热点数据集（CSV/Parquet/XLSX/GeoJSON；全部成功或全部不写入）/ add a hotspot dataset, all or nothing.

    CSV 与 Parquet 分块读取（不整个读入内存），XLSX/GeoJSON 最大 50 MB；文件上限为设置 DATASET_MAX_BYTES
    （默认 500 MB）/ CSV and Parquet are read in blocks (never whole); XLSX/GeoJSON at most 50 MB; any file at
    most DATASET_MAX_BYTES (default 500 MB)."""
    from .stations import ImportValidationError, RegistryError

    try:
        record = _dataset_store(c).add(file, name=name, crs=crs, skip_bad_rows=skip_bad_rows, user=user,
                                       encoding=encoding)
    except ImportValidationError as exc:
        click.echo(exc.report(), err=True)
        sys.exit(2)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from None
    problems = record.pop("problems")
    if record["skipped"]:
        click.echo(f"跳过 {record['skipped']} 行 / skipped {record['skipped']} row(s):", err=True)
        for p in problems[:50]:
            click.echo("  " + p.format(), err=True)
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, indent=1))
        return
    click.echo(f"已添加热点数据集 #{record['id']}“{record['name']}”：{record['rows']} 行 / added hotspot dataset "
               f"#{record['id']} ({record['name']}): {record['rows']} rows")


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True,
              help="输出 JSON 列表（最新在前；id、name、rows、created_at …）/ print a JSON list, newest first")
@pass_ctx
def datasets_list(c: Context, as_json: bool) -> None:
    """列出热点数据集（最新在前）/ list the hotspot datasets, newest first."""
    records = _dataset_store(c).list()
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False, indent=1))
        return
    if not records:
        click.echo("没有热点数据集 / no hotspot datasets")
        return
    for r in records:
        skipped = f"（跳过 {r['skipped']} 行 / {r['skipped']} skipped）" if r["skipped"] else ""
        click.echo(f"#{r['id']:<4} {r['name']}  {r['rows']} 行 rows{skipped}  {r['kind']}  {r['created_at']}  "
                   f"{r['created_by'] or '-'}  {r['source_name']}")


@datasets.command("rename")
@click.argument("dataset_id", metavar="ID", type=int)
@click.argument("name")
@click.option("--user", default="cli", show_default=True, help="记入历史的操作人 / who, for the history")
@pass_ctx
def datasets_rename(c: Context, dataset_id: int, name: str, user: str) -> None:
    """给热点数据集改名 / rename a hotspot dataset."""
    from .stations import RegistryError

    try:
        record = _dataset_store(c).rename(dataset_id, name, user=user)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"已改名：#{record['id']}“{record['name']}” / renamed #{record['id']} to {record['name']}")


@datasets.command("remove")
@click.argument("dataset_id", metavar="ID", type=int)
@click.option("--user", default="cli", show_default=True, help="记入历史的操作人 / who, for the history")
@pass_ctx
def datasets_remove(c: Context, dataset_id: int, user: str) -> None:
    """删除热点数据集及其文件（记入历史）/ delete a hotspot dataset and its file (recorded in the history)."""
    from .stations import RegistryError

    try:
        record = _dataset_store(c).remove(dataset_id, user=user)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"已删除热点数据集 #{record['id']}“{record['name']}” / removed hotspot dataset #{record['id']} "
               f"({record['name']})")


@main.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "planner", "district"]), required=True,
              help="角色：管理员 / 规划人员 / 区工会")
@click.option("--adcode", default="", help="区工会绑定的 6 位行政区划代码 / district adcode (district role)")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="密码（省略则提示输入）/ password (prompted when omitted)")
@pass_ctx
def create_user(c: Context, username: str, role: str, adcode: str, password: str) -> None:
    """创建账号 / create an account (admin, planner, or district union bound to an adcode)."""
    from .stations import RegistryError

    try:
        uid = c.registry.create_user(username, password, role, adcode=adcode)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"已创建用户 {username}（{role}）/ created user {username} (id {uid})")


@main.command("history")
@click.option("--station", default=None, help="只看某站点 / one station's history")
@click.option("--limit", type=int, default=20, show_default=True)
@pass_ctx
def history(c: Context, station: str | None, limit: int) -> None:
    """变更历史（谁、何时、改了什么）/ the change history: who, when, what."""
    frame = c.registry.history(station, limit=limit)
    if frame.empty:
        click.echo("没有历史记录 / no history")
        return
    for row in frame.itertuples(index=False):
        batch = f" batch={row.batch}" if row.batch else ""
        click.echo(f"#{row.id} {row.at:%Y-%m-%d %H:%M:%S} {row.user or '-'} {row.action} {row.station_id} "
                   f"{row.note}{batch}")


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_ctx
def backup(c: Context, file: str) -> None:
    """备份登记数据库（运行中也可；SQLite 与 PostgreSQL 都写成一个 SQLite 文件）/ back up the registry
    database into one SQLite file (safe while serving; SQLite and PostgreSQL alike, any schema revision)."""
    from .stations import RegistryError
    from .stations.backup import backup as backup_database

    engine = c.engine()
    try:
        info = backup_database(engine, file)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"已备份到 {info['path']}（{info['stations']} 个站点，{info['users']} 个账号）/ backed up to "
               f"{info['path']} ({info['stations']} stations, {info['users']} accounts)")


@main.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--yes", is_flag=True, help="不再确认 / do not ask")
@pass_ctx
def restore(c: Context, file: str, yes: bool) -> None:
    """从备份恢复登记数据库（替换当前数据）/ restore the registry from a backup (replaces current data)."""
    from .stations import RegistryError

    if not yes:
        click.confirm(f"用 {file} 替换当前的 {c.registry.count()} 个站点？/ replace the current registry?", abort=True)
    try:
        counts = c.registry.restore(file, user="cli")
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"已恢复：{counts['stations']} 个站点，{counts['users']} 个账号 / restored")


@main.group("db")
def db() -> None:
    """数据库结构迁移（Alembic）/ registry schema migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_ctx
def db_upgrade(c: Context, revision: str) -> None:
    """把数据库结构升级到本版本（先备份！）/ upgrade the registry schema in place to this release's (back up first).

    Works on SQLite and PostgreSQL, on an empty database and on a registry of an older release
    (0.1.0 included); every row is kept."""
    from .stations import RegistryError
    from .stations.migrate import upgrade

    engine = c.engine()
    try:
        before, after = upgrade(engine, revision)
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"数据库结构已是最新（{after}）/ the schema is up to date ({after})")
    else:
        click.echo(f"数据库结构已升级：{before or '空'} → {after} / schema upgraded: {before or 'empty'} -> {after}")


@db.command("current")
@pass_ctx
def db_current(c: Context) -> None:
    """显示数据库结构版本 / show the registry's schema revision and this release's."""
    from .stations.migrate import current, head

    engine = c.engine()
    try:
        with engine.connect() as conn:
            rev = current(conn)
    finally:
        engine.dispose()
    newest = head()
    state = "最新 / up to date" if rev == newest else "需要 yizhan db upgrade / run yizhan db upgrade"
    click.echo(f"{rev or '空 / empty'}（本版本 / this release: {newest}）{state}")


@main.command("undo")
@click.argument("history_id", type=int, required=False)
@click.option("--batch", default="", help="撤销整批导入（批次编号）/ undo a whole import batch")
@click.option("--force", is_flag=True, help="站点之后又有变更时仍然撤销 / undo even if the station changed since")
@click.option("--user", default="cli", show_default=True)
@pass_ctx
def undo(c: Context, history_id: int | None, batch: str, force: bool, user: str) -> None:
    """撤销一条历史变更或一整批导入 / undo one recorded change or a whole import batch.

    Refused when the station changed after that change (undo the later change first, or --force)."""
    from .stations import RegistryError

    if (history_id is None) == (not batch):
        raise click.UsageError("请给出历史编号或 --batch（二选一）/ give a history id or --batch, not both")
    try:
        if batch:
            n = c.registry.undo_batch(batch, user=user, force=force)
            click.echo(f"已撤销批次 {batch} 的 {n} 项变更 / undone {n} changes")
            return
        action = c.registry.undo(history_id, user=user, force=force)
    except RegistryError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"已撤销 #{history_id}（{action}）/ undone")


if __name__ == "__main__":  # pragma: no cover
    main()
