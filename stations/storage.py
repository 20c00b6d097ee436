"""Registry storage: SQLAlchemy 2 over SQLite (WAL) by default, or PostgreSQL (psycopg 3) through
``DATABASE_URL=postgresql+psycopg://user@host/db``.

Tables: ``stations`` (current state, with a ``version`` raised by every change), ``station_history``
(every change with who and when, the row before and after, so a change can be shown and undone),
``users`` (admin / planner / district union bound to one adcode, with hashed passwords),
``proposals`` and ``proposal_history``.  The schema is versioned with Alembic
(:mod:`yizhan.stations.migrate`): a new database is created at the newest revision, an older one is
upgraded with ``yizhan db upgrade``.

Every write is one transaction: an import either writes all its rows and their history or nothing.
Concurrent writers never lose a change: on SQLite a write transaction takes the write lock when it
begins (``BEGIN IMMEDIATE``), on PostgreSQL it locks the rows it reads (``SELECT … FOR UPDATE``).
A change may name the version of the station it was made on (``expected_version``): when the
station changed since, it is refused with :class:`StaleStation` (the web API's 412).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from . import model
from ._errors import RegistryError, StaleStation, UndoConflict, WriteConflict

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("admin", "planner", "district")
ROLE_NAMES: dict[str, str] = {"admin": "管理员", "planner": "规划人员", "district": "区工会"}


def scope_prefix(user: dict[str, Any] | None) -> str | None:
    """The adcode prefix a user may change, for an area of any province: "" for admins and
    planners without an area; for a planner the prefix shared by every district of its province or
    city ("63" for 630000, "6301" for 西宁市 630100, "50" for 重庆市 500100, "429004" for 仙桃市);
    a district union's own code ("630102"); None for anonymous visitors."""
    if not user:
        return None
    if user["role"] == "admin":
        return ""
    code = str(user.get("adcode") or "").strip()
    if user["role"] == "district":
        return code or None
    if not code:
        return ""
    from ..geodata.boundaries import area_prefix

    try:
        return area_prefix(code)
    except ValueError:          # a code the boundary data does not know: its non-zero head
        while code.endswith("00"):
            code = code[:-2]
        return code


def in_scope(user: dict[str, Any] | None, adcode: object) -> bool:
    """True when ``user`` may change things located in ``adcode``."""
    prefix = scope_prefix(user)
    return prefix is not None and str(adcode or "").startswith(prefix)


class Base(DeclarativeBase):
    pass


#: Station ids compare byte-wise on PostgreSQL too (``COLLATE "C"``), so they sort as on SQLite.
_STATION_ID = String(64).with_variant(postgresql.VARCHAR(64, collation="C"), "postgresql")


class StationRow(Base):
    __tablename__ = "stations"
    __table_args__ = (Index("ix_stations_lat_lon", "lat", "lon"),)

    id: Mapped[str] = mapped_column(_STATION_ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32), index=True)
    groups: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    adcode: Mapped[str] = mapped_column(String(12), default="", index=True)
    host: Mapped[str] = mapped_column(String(100), default="")
    services: Mapped[str] = mapped_column(String(500), default="")
    hours: Mapped[str] = mapped_column(String(300), default="")
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    phone: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="在运营", index=True)
    source: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[str] = mapped_column(String(32), default="")
    #: WGS-84; NULL while the station waits for a location (status 待定位)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    orig_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    orig_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    orig_crs: Mapped[str] = mapped_column(String(8), default="wgs84")
    #: 1 when created, raised by every change (the ETag of GET /api/stations/<id>)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # added in 0003 (after version, in the order the migration adds them)
    precision: Mapped[str] = mapped_column(String(16), default="", server_default="")
    located_status: Mapped[str] = mapped_column(String(16), default="", server_default="")
    candidate: Mapped[str] = mapped_column(Text, default="", server_default="")


class HistoryRow(Base):
    __tablename__ = "station_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))            # create | update | delete | undo
    before: Mapped[str | None] = mapped_column(Text, nullable=True)   # JSON of the row, or None
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    user: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=lambda: datetime.now(timezone.utc))
    batch: Mapped[str] = mapped_column(String(40), default="", index=True)
    note: Mapped[str] = mapped_column(String(500), default="")


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    adcode: Mapped[str] = mapped_column(String(12), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=lambda: datetime.now(timezone.utc))
    active: Mapped[int] = mapped_column(Integer, default=1)


class ProposalRow(Base):
    """A proposed new station site submitted by a district union, with its computed impact."""

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    adcode: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(100), default="")
    services: Mapped[str] = mapped_column(String(500), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="待审核", index=True)   # 待审核 | 已采纳 | 已驳回
    submitted_by: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=lambda: datetime.now(timezone.utc))
    reviewed_by: Mapped[str] = mapped_column(String(64), default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    review_comment: Mapped[str] = mapped_column(Text, default="")
    impact: Mapped[str] = mapped_column(Text, default="{}")      # JSON
    station_id: Mapped[str] = mapped_column(String(64), default="")


class StateRow(Base):
    """One row: ``generation``, raised by every transaction that changes stations — the registry
    version the web workers poll to know when to rebuild their station index (one indexed read,
    and right on PostgreSQL, where history ids may commit out of order)."""

    __tablename__ = "registry_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ProposalHistoryRow(Base):
    __tablename__ = "proposal_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(16))   # submit | accept | reject | build
    user: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=lambda: datetime.now(timezone.utc))
    note: Mapped[str] = mapped_column(Text, default="")


class DatasetRow(Base):
    """A named hotspot dataset (added in 0004); its rows are the normalised Parquet file
    ``<home>/datasets/<id>.parquet`` (see :mod:`yizhan.coverage.datasets`).  Ids are never reused
    (SQLite ``AUTOINCREMENT``, a PostgreSQL sequence), so a cache keyed by id cannot outlive it."""

    __tablename__ = "datasets"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    rows: Mapped[int] = mapped_column(BigInteger)                  # rows stored
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)    # bad rows skipped when added
    kind: Mapped[str] = mapped_column(String(8))                   # points | cells
    crs: Mapped[str] = mapped_column(String(8))                    # coordinate system of the file
    source_name: Mapped[str] = mapped_column(String(500), default="")
    bytes: Mapped[int] = mapped_column(BigInteger)                 # size of the file as uploaded
    sha256: Mapped[str] = mapped_column(String(64))                # of the stored Parquet file
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64), default="")


class DatasetHistoryRow(Base):
    """Every change of the hotspot datasets (add | rename | remove) with who and when."""

    __tablename__ = "dataset_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(16))
    before: Mapped[str | None] = mapped_column(Text, nullable=True)   # JSON of the dataset, or None
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    user: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(DateTime)
    note: Mapped[str] = mapped_column(String(500), default="")


_FIELDS = [c for c in model.COLUMNS]
#: metres per degree of latitude (the sphere of geodata.sphere)
_M_PER_DEG = 6_371_008.8 * math.pi / 180


class Station(dict):
    """A station row (a dict of :data:`yizhan.stations.model.COLUMNS`) and its ``version``, read
    together: the version belongs to exactly these values."""

    def __init__(self, values: dict[str, Any], version: int) -> None:
        super().__init__(values)
        self.version = int(version)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _clean(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


#: columns added after release 0.2 (text, empty by default)
_LATER_FIELDS = ("precision", "located_status", "candidate")


def _keep_location(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A file row without coordinates for a station already registered: a located station keeps
    its location (and takes the status the file gives, 在运营 by default); a waiting one keeps
    the geocoder's candidate waiting for a person."""
    if old.get("lon") is not None and old.get("lat") is not None:
        for k in ("lon", "lat", "orig_lon", "orig_lat", "orig_crs", "precision"):
            new[k] = old[k]
        new["status"] = new.get("located_status") or old["status"]
        new["located_status"] = ""
        new["candidate"] = ""
        if not new.get("adcode"):
            new["adcode"] = old.get("adcode") or ""
    elif not new.get("candidate"):
        new["candidate"] = old.get("candidate") or ""


def _row_dict(obj: StationRow) -> dict[str, Any]:
    return {c: getattr(obj, c) for c in _FIELDS}


def _account(row: UserRow) -> dict[str, Any]:
    """An account as the app sees it; ``session_tag`` changes with the password, so a session
    stamped with the old tag ends when the password is reset."""
    tag = hashlib.sha256(row.password_hash.encode("utf-8")).hexdigest()[:16]
    return {"id": row.id, "username": row.username, "role": row.role, "adcode": row.adcode, "session_tag": tag}


def _differs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when a re-imported row changes anything but its ``updated_at`` stamp."""
    return any(old.get(k) != v for k, v in new.items() if k != "updated_at")


def database_url(url: str) -> str:
    """``url`` with the PostgreSQL driver this package installs (psycopg 3): ``postgresql://`` and
    ``postgres://`` become ``postgresql+psycopg://``; other URLs are returned as they are."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    return url


def make_engine(url: str) -> Engine:
    """Create an engine.

    SQLite files get WAL journal mode, foreign keys and a 30 s busy timeout; transactions are begun
    by us rather than by the driver: ``BEGIN`` for readers, ``BEGIN IMMEDIATE`` (the write lock at
    once, so a read-then-write transaction never fails half-way) on connections with the
    ``writer`` execution option.  PostgreSQL sessions run in UTC (stored times are naive UTC) with
    pre-ping (a restarted server costs no failed request)."""
    url = database_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None          # no implicit BEGIN by the driver
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # noqa: ANN001
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writer") else "BEGIN")

        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})
    return create_engine(url)


def _db_message(exc: DBAPIError) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300]


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Database refusals of a write as registry errors (nothing was written): a collision with a
    concurrent write (duplicate key, deadlock, serialisation failure, SQLite lock timeout) is a
    :class:`WriteConflict`, a value the database cannot store a :class:`RegistryError`."""
    try:
        yield
    except IntegrityError as exc:
        raise WriteConflict("与同时进行的另一项修改冲突，未写入任何内容，请重试 / the change collided with a concurrent "
                            f"one and nothing was written: try again ({_db_message(exc)})") from exc
    except DataError as exc:
        raise RegistryError(f"数据库不能保存该值，未写入任何内容 / the database cannot store a value, nothing was "
                            f"written: {_db_message(exc)}") from exc
    except DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None)
        if state in ("40001", "40P01", "55P03") or "database is locked" in str(exc.orig):
            raise WriteConflict("与同时进行的另一项修改冲突，未写入任何内容，请重试 / the change collided with a "
                                f"concurrent one and nothing was written: try again ({_db_message(exc)})") from exc
        raise


class Registry:
    """The station registry: stations, their history and the users, in one database.

    >>> reg = Registry("sqlite:///instance/yizhan.sqlite")   # doctest: +SKIP
    >>> reg.stations()                                        # a DataFrame with model.COLUMNS
    """

    def __init__(self, url: str) -> None:
        from . import migrate

        self.url = database_url(url)
        self.engine = make_engine(self.url)
        migrate.ensure_schema(self.engine)     # new database: created at head; older: SchemaError
        #: read sessions; writes go through :meth:`write`
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.WriteSession = sessionmaker(self.engine.execution_options(writer=True), expire_on_commit=False)
        self._version: int | None = None

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql`` (or another SQLAlchemy dialect name)."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def write(self) -> Iterator[Any]:
        """One write transaction (a session): committed at the end, rolled back on any error;
        database refusals become registry errors (see :func:`guarded`)."""
        with guarded(), self.WriteSession.begin() as s:
            yield s

    # -- reading -----------------------------------------------------------------------------
    def stations(self, *, status: str | None = None,
                 bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
        """All stations as a registry frame, ordered by id; optionally only one status, or only those
        in ``bbox`` = (west, south, east, north), WGS-84, edges included (read through the
        (lat, lon) index)."""
        stmt = select(*[getattr(StationRow, c) for c in _FIELDS]).order_by(StationRow.id)
        if status:
            stmt = stmt.where(StationRow.status == status)
        if bbox is not None:
            west, south, east, north = (float(v) for v in bbox)
            stmt = stmt.where(StationRow.lat.between(south, north), StationRow.lon.between(west, east))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return model.empty_frame()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=_FIELDS)   # plain tuples: 3x faster to frame
        frame["capacity"] = frame["capacity"].astype("Int64")
        for c in ("lon", "lat", "orig_lon", "orig_lat"):
            frame[c] = frame[c].astype("float64")
        return frame

    def near(self, lon: float, lat: float, radius_m: float) -> pd.DataFrame:
        """Stations in a box that holds every station within ``radius_m`` of (lon, lat), WGS-84 (a
        superset of the circle: callers measure the distances).  Empty for non-finite input."""
        if not (math.isfinite(lon) and math.isfinite(lat) and math.isfinite(radius_m)):
            return model.empty_frame()
        dlat = radius_m / _M_PER_DEG
        coslat = math.cos(math.radians(min(abs(lat) + dlat, 90.0)))
        dlon = 180.0 if coslat < 1e-6 else min(180.0, dlat / coslat)
        return self.stations(bbox=(lon - dlon, lat - dlat, lon + dlon, lat + dlat))

    def count(self) -> int:
        """Number of stations."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(StationRow)).scalar_one())

    def get(self, station_id: str) -> Station | None:
        """One station (a dict with its ``version``), or None."""
        if not isinstance(station_id, str) or "\x00" in station_id:   # PostgreSQL text cannot hold NUL
            return None
        with self.Session() as s:
            obj = s.get(StationRow, station_id)
            return Station(_row_dict(obj), obj.version) if obj else None

    def version(self) -> int:
        """A number that changes whenever the stations change: the generation of
        ``registry_state``, raised inside every transaction that changes stations (so it changes
        exactly when such a transaction commits — not the last history id, which on PostgreSQL may
        commit out of order).  One primary-key read."""
        with self.engine.connect() as conn:
            value = conn.execute(select(StateRow.generation).where(StateRow.id == 1)).scalar()
            return int(value or 0)

    @staticmethod
    def _changed(s: Any) -> None:
        """Raise the registry generation in write transaction ``s`` (last, so that on PostgreSQL the
        one-row lock is held only until the commit that follows)."""
        s.execute(update(StateRow).where(StateRow.id == 1).values(generation=StateRow.generation + 1))

    @staticmethod
    def _next_versions(s: Any, ids: list[str]) -> dict[str, int]:
        """The version a station created again under each of ``ids`` starts at: one more than its
        number of history rows (every version a station ever had came with one history row, so a
        re-created station never repeats the version of an earlier life — an old ETag cannot
        match it).  Ids without history are left out (they start at 1)."""
        out: dict[str, int] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            stmt = (select(HistoryRow.station_id, func.count(HistoryRow.id))
                    .where(HistoryRow.station_id.in_(chunk)).group_by(HistoryRow.station_id))
            out.update({sid: int(n) + 1 for sid, n in s.execute(stmt).all()})
        return out

    @staticmethod
    def _stale(station_id: str, expected: int, obj: StationRow | None) -> StaleStation:
        if obj is None:
            return StaleStation(f"站点 {station_id} 已被他人删除 / station {station_id} was deleted by someone else",
                                station_id=station_id, current=None)
        return StaleStation(
            f"站点 {station_id} 已被他人修改（当前版本 {obj.version}，您修改的是版本 {expected}），未保存：请重新载入后再改 / "
            f"station {station_id} was changed by someone else (now version {obj.version}, your change was made "
            f"on version {expected}); nothing was saved: reload it and edit again",
            station_id=station_id, current=Station(_row_dict(obj), obj.version))

    # -- writing -----------------------------------------------------------------------------
    def import_frame(self, frame: pd.DataFrame, *, user: str = "", note: str = "",
                     default_source: str = "", create_only: bool = False) -> dict[str, Any]:
        """Write a validated registry frame in one transaction: new ids are created, existing ids
        updated (their version raised); every change gets a history row sharing one batch id.
        Returns counts and batch.

        Empty ``source`` cells become ``default_source`` for new stations and keep the recorded
        source of stations already registered.  ``create_only``: refuse (:class:`WriteConflict`,
        nothing written) when any id exists already — a create racing another create of the same
        id loses instead of silently updating it."""
        batch = uuid.uuid4().hex
        frame = frame.assign(**{c: "" for c in _LATER_FIELDS if c not in frame})   # frames made before 0.3
        records = [{c: _clean(v) for c, v in zip(_FIELDS, row)}
                   for row in frame[_FIELDS].itertuples(index=False, name=None)]
        for r in records:
            for c in _LATER_FIELDS:
                r[c] = r[c] or ""
        at = _now()
        with self.write() as s:
            ids = sorted({r["id"] for r in records})      # rows are locked in id order: no deadlock
            existing: dict[str, dict[str, Any]] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                stmt = select(StationRow).where(StationRow.id.in_(chunk)).order_by(StationRow.id).with_for_update()
                for obj in s.scalars(stmt):
                    existing[obj.id] = _row_dict(obj)
            if create_only and existing:
                first = min(existing)
                raise WriteConflict(f"站点编号已存在：{first} / station id exists: {first}")
            for r in records:
                if not r.get("source"):
                    r["source"] = existing[r["id"]]["source"] if r["id"] in existing else default_source
                old = existing.get(r["id"])
                if old is not None and r["status"] == model.STATUS_WAITING:
                    _keep_location(old, r)
            new = [r for r in records if r["id"] not in existing]
            changed = [r for r in records if r["id"] in existing and _differs(existing[r["id"]], r)]
            if new:
                again = self._next_versions(s, [r["id"] for r in new])
                s.execute(insert(StationRow), [{**r, "version": again.get(r["id"], 1)} for r in new])
            for r in changed:
                s.execute(update(StationRow).where(StationRow.id == r["id"])
                          .values(**r, version=StationRow.version + 1))
            history = [{"station_id": r["id"], "action": "create", "before": None,
                        "after": json.dumps(r, ensure_ascii=False), "user": user, "at": at,
                        "batch": batch, "note": note} for r in new]
            history += [{"station_id": r["id"], "action": "update",
                         "before": json.dumps(existing[r["id"]], ensure_ascii=False),
                         "after": json.dumps(r, ensure_ascii=False), "user": user, "at": at,
                         "batch": batch, "note": note} for r in changed]
            if history:
                s.execute(insert(HistoryRow), history)
                self._changed(s)
        log.info("imported %d new and %d changed stations (batch %s)", len(new), len(changed), batch)
        return {"created": len(new), "updated": len(changed),
                "unchanged": len(records) - len(new) - len(changed), "batch": batch,
                "waiting": sum(r["status"] == model.STATUS_WAITING for r in records)}

    def update_station(self, station_id: str, changes: dict[str, Any], *, user: str = "",
                       note: str = "", expected_version: int | None = None, batch: str = "") -> Station:
        """Change fields of one station (already validated values); returns the new row with its
        new version.  With ``expected_version``, refuses (:class:`StaleStation`, nothing written)
        when the station is no longer at that version.  ``batch`` groups several such changes in
        the history (one geocoding run), so :meth:`undo_batch` reverts them together."""
        unknown = set(changes) - set(_FIELDS) - {"id"}
        if unknown:
            raise RegistryError(f"未知字段 / unknown fields: {', '.join(sorted(unknown))}")
        with self.write() as s:
            obj = s.get(StationRow, station_id, with_for_update=True)
            if expected_version is not None and (obj is None or obj.version != expected_version):
                raise self._stale(station_id, expected_version, obj)
            if obj is None:
                raise RegistryError(f"站点不存在 / no such station: {station_id}")
            before = _row_dict(obj)
            for k, v in changes.items():
                setattr(obj, k, _clean(v))
            obj.version = obj.version + 1
            after = _row_dict(obj)
            s.add(HistoryRow(station_id=station_id, action="update",
                             before=json.dumps(before, ensure_ascii=False),
                             after=json.dumps(after, ensure_ascii=False), user=user, at=_now(), note=note,
                             batch=batch))
            version = obj.version
            s.flush()
            self._changed(s)
        return Station(after, version)

    def delete_station(self, station_id: str, *, user: str = "", note: str = "",
                       expected_version: int | None = None) -> None:
        """Delete one station (kept in history, so it can be restored with :meth:`undo`); with
        ``expected_version`` only while the station is at that version (else :class:`StaleStation`)."""
        with self.write() as s:
            obj = s.get(StationRow, station_id, with_for_update=True)
            if expected_version is not None and (obj is None or obj.version != expected_version):
                raise self._stale(station_id, expected_version, obj)
            if obj is None:
                raise RegistryError(f"站点不存在 / no such station: {station_id}")
            before = _row_dict(obj)
            s.delete(obj)
            s.add(HistoryRow(station_id=station_id, action="delete",
                             before=json.dumps(before, ensure_ascii=False), after=None, user=user,
                             at=_now(), note=note))
            s.flush()
            self._changed(s)

    def history(self, station_id: str | None = None, *, limit: int = 200, before_id: int | None = None,
                user: str | None = None, action: str | None = None, batch: str | None = None,
                adcode_prefix: str | None = None) -> pd.DataFrame:
        """History rows, newest first, optionally filtered: one station, entries older than
        ``before_id`` (paging), by user, action, import batch, or stations whose adcode (before
        or after the change) starts with ``adcode_prefix``."""
        stmt = select(HistoryRow.id, HistoryRow.station_id, HistoryRow.action, HistoryRow.user,
                      HistoryRow.at, HistoryRow.batch, HistoryRow.note, HistoryRow.before,
                      HistoryRow.after).order_by(HistoryRow.id.desc()).limit(limit)
        if station_id:
            stmt = stmt.where(HistoryRow.station_id == station_id)
        if before_id is not None:
            stmt = stmt.where(HistoryRow.id < int(before_id))
        if user:
            stmt = stmt.where(HistoryRow.user == user)
        if action:
            stmt = stmt.where(HistoryRow.action == action)
        if batch:
            stmt = stmt.where(HistoryRow.batch == batch)
        if adcode_prefix:
            # the before/after JSON is written by this class (json.dumps defaults), so the key
            # always reads '"adcode": "<code>"'
            pattern = f'%"adcode": "{adcode_prefix}%'
            stmt = stmt.where(or_(HistoryRow.before.like(pattern), HistoryRow.after.like(pattern)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return pd.DataFrame(rows, columns=["id", "station_id", "action", "user", "at", "batch", "note",
                                           "before", "after"])

    def history_entry(self, history_id: int) -> dict[str, Any] | None:
        """One history row as a dict (before/after decoded), or None."""
        with self.Session() as s:
            h = s.get(HistoryRow, int(history_id))
            if h is None:
                return None
            return {"id": h.id, "station_id": h.station_id, "action": h.action, "user": h.user, "at": h.at,
                    "batch": h.batch, "note": h.note, "before": json.loads(h.before) if h.before else None,
                    "after": json.loads(h.after) if h.after else None}

    def undone_by(self, history_ids: list[int]) -> dict[int, int]:
        """For each of ``history_ids`` that was undone, the id of the undo entry (latest one)."""
        if not history_ids:
            return {}
        notes = [f"undo #{i}" for i in history_ids]
        stmt = (select(HistoryRow.id, HistoryRow.note).where(HistoryRow.action == "undo", HistoryRow.note.in_(notes))
                .order_by(HistoryRow.id))
        with self.engine.connect() as conn:
            return {int(note[6:]): int(i) for i, note in conn.execute(stmt).all()}

    @staticmethod
    def _undo_one(s: Any, h: HistoryRow, *, user: str, force: bool, batch: str = "") -> None:
        """Restore the station of history row ``h`` to its state before ``h`` (inside session ``s``).

        Refuses (:class:`UndoConflict`) when the station changed after ``h`` unless ``force``."""
        obj = s.get(StationRow, h.station_id, with_for_update=True)
        current = _row_dict(obj) if obj else None
        expected = json.loads(h.after) if h.after else None
        if not force and json.loads(json.dumps(current, ensure_ascii=False)) != expected:
            later = s.scalar(select(func.max(HistoryRow.id)).where(HistoryRow.station_id == h.station_id))
            raise UndoConflict(
                f"站点 {h.station_id} 在记录 #{h.id} 之后又有变更（最新 #{later}），请先撤销较新的变更 / "
                f"station {h.station_id} changed after entry #{h.id} (latest #{later}); undo the later change first")
        if h.before is None:          # undo a create
            if obj is not None:
                s.delete(obj)
        else:
            values = json.loads(h.before)
            if obj is None:
                again = Registry._next_versions(s, [h.station_id]).get(h.station_id, 1)
                s.execute(insert(StationRow), [{**values, "version": again}])
            else:
                for k, v in values.items():
                    setattr(obj, k, v)
                obj.version = obj.version + 1
        s.add(HistoryRow(station_id=h.station_id, action="undo",
                         before=json.dumps(current, ensure_ascii=False) if current else None,
                         after=h.before, user=user, at=_now(), batch=batch, note=f"undo #{h.id}"))

    def undo(self, history_id: int, *, user: str = "", force: bool = False) -> str:
        """Revert one recorded change (restores the row as it was before it); returns the action.

        Raises :class:`UndoConflict` when the station changed after that entry (undo the later
        change first, or pass ``force`` to overwrite it anyway — itself recorded and undoable)."""
        with self.write() as s:
            h = s.get(HistoryRow, history_id)
            if h is None:
                raise RegistryError(f"历史记录不存在 / no such history entry: {history_id}")
            self._undo_one(s, h, user=user, force=force)
            s.flush()
            self._changed(s)
        return h.action

    def undo_batch(self, batch: str, *, user: str = "", force: bool = False) -> int:
        """Revert every change of one import batch in one transaction (newest first); returns how
        many.  All or nothing: one conflicting station refuses the whole undo."""
        if not batch:
            raise RegistryError("批次编号为空 / empty batch id")
        undo_batch = uuid.uuid4().hex
        with self.write() as s:
            entries = list(s.scalars(select(HistoryRow).where(HistoryRow.batch == batch)
                                     .order_by(HistoryRow.id.desc())))
            if not entries:
                raise RegistryError(f"导入批次不存在 / no such batch: {batch}")
            for h in entries:
                self._undo_one(s, h, user=user, force=force, batch=undo_batch)
                s.flush()
            self._changed(s)
        return len(entries)

    def clear_stations(self, *, user: str = "") -> int:
        """Delete every station (each recorded in history); returns how many."""
        with self.write() as s:
            rows = list(s.scalars(select(StationRow).order_by(StationRow.id).with_for_update()))
            at = _now()
            history = [{"station_id": r.id, "action": "delete",
                        "before": json.dumps(_row_dict(r), ensure_ascii=False),
                        "after": None, "user": user, "at": at, "batch": "", "note": "clear"} for r in rows]
            ids = [r.id for r in rows]
            for start in range(0, len(ids), 500):
                s.execute(delete(StationRow).where(StationRow.id.in_(ids[start:start + 500])))
            if history:
                s.execute(insert(HistoryRow), history)
                self._changed(s)
        return len(rows)

    def last_writers(self) -> dict[str, str]:
        """Station id -> user of the station's latest history entry, for every current station
        (stations without history are left out)."""
        latest = (select(HistoryRow.station_id, func.max(HistoryRow.id).label("hid"))
                  .group_by(HistoryRow.station_id).subquery())
        stmt = (select(HistoryRow.station_id, HistoryRow.user)
                .join(latest, HistoryRow.id == latest.c.hid)
                .join(StationRow, StationRow.id == HistoryRow.station_id))
        with self.engine.connect() as conn:
            return {sid: user for sid, user in conn.execute(stmt).all()}

    def delete_stations(self, station_ids: list[str], *, user: str = "", note: str = "") -> dict[str, Any]:
        """Delete several stations in one transaction, recorded in history under one batch id (so
        :meth:`undo_batch` restores them all); unknown ids are ignored.  Returns ``deleted``, ``batch``."""
        batch = uuid.uuid4().hex
        ids = list(dict.fromkeys(str(i) for i in station_ids))
        at = _now()
        deleted = 0
        ids.sort()                                   # rows are locked in id order: no deadlock
        with self.write() as s:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = list(s.scalars(select(StationRow).where(StationRow.id.in_(chunk)).order_by(StationRow.id)
                                      .with_for_update()))
                if not rows:
                    continue
                history = [{"station_id": r.id, "action": "delete",
                            "before": json.dumps(_row_dict(r), ensure_ascii=False), "after": None,
                            "user": user, "at": at, "batch": batch, "note": note} for r in rows]
                s.execute(delete(StationRow).where(StationRow.id.in_([r.id for r in rows])))
                s.execute(insert(HistoryRow), history)
                deleted += len(rows)
            if deleted:
                self._changed(s)
        return {"deleted": deleted, "batch": batch}

    # -- backup ------------------------------------------------------------------------------
    def backup(self, path: str | Path) -> Path:
        """Write a consistent copy of the registry to the SQLite file ``path`` (see
        :mod:`yizhan.stations.backup`: SQLite's online backup, or a logical copy of a PostgreSQL
        registry in one snapshot).  Safe while the app is running."""
        from .backup import backup

        return backup(self.engine, path)["path"]

    def restore(self, path: str | Path, *, user: str = "") -> dict[str, int]:
        """Replace the registry's contents with a backup made by :meth:`backup` (checked first,
        upgraded to this release's schema; all or nothing).  Returns the station and user counts
        restored."""
        from .backup import restore

        return restore(self.engine, path, user=user)

    # -- users -------------------------------------------------------------------------------
    @staticmethod
    def _check_role(role: str, adcode: str) -> str:
        """The adcode to store for ``role`` (district: required, planner: optional scope)."""
        if role not in ROLES:
            raise RegistryError(f"未知角色 {role!r}，可选 admin、planner、district / unknown role {role!r}")
        adcode = (adcode or "").strip()
        if role == "district" and not (adcode.isdigit() and len(adcode) == 6):
            raise RegistryError("区工会账号必须绑定 6 位行政区划代码 / a district account needs a 6-digit adcode")
        if role == "planner" and adcode and not (adcode.isdigit() and len(adcode) == 6):
            raise RegistryError("规划人员的辖区应为 6 位行政区划代码（省或市），或留空表示不限地区 / a planner's scope "
                                "must be a 6-digit province or city adcode, or empty for everywhere")
        return adcode if role in ("district", "planner") else ""

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < 8:
            raise RegistryError("密码至少 8 位 / password must have at least 8 characters")
        if len(password) > 256:
            raise RegistryError("密码过长（最多 256 位）/ password too long (at most 256 characters)")

    def create_user(self, username: str, password: str, role: str, *, adcode: str = "") -> int:
        """Create an account; ``role`` is admin, planner (optionally scoped to a province or city
        adcode) or district (bound to a 6-digit district adcode)."""
        adcode = self._check_role(role, adcode)
        username = (username or "").strip()
        if not username or len(username) > 64:
            raise RegistryError("用户名为空或过长 / username empty or too long")
        self._check_password(password)
        try:
            with self.write() as s:
                if s.scalar(select(UserRow).where(UserRow.username == username)):
                    raise RegistryError(f"用户已存在 / user exists: {username}")
                row = UserRow(username=username, password_hash=generate_password_hash(password), role=role,
                              adcode=adcode)
                s.add(row)
                s.flush()
                return int(row.id)
        except WriteConflict:            # the same name created at the same moment by someone else
            raise RegistryError(f"用户已存在 / user exists: {username}") from None

    def update_user(self, user_id: int, *, role: str | None = None, adcode: str | None = None,
                    password: str | None = None, active: bool | None = None) -> dict[str, Any]:
        """Change an account's role/scope, password or active flag; returns the account.

        The last active admin cannot be demoted or deactivated (someone must manage accounts).
        A deactivated account is logged out at its next request."""
        with self.write() as s:
            # the active admins first, in id order, then the account: two admins demoting each
            # other at once cannot both pass the last-admin check (and cannot deadlock)
            admins = len(s.scalars(select(UserRow.id).where(UserRow.role == "admin", UserRow.active == 1)
                                   .order_by(UserRow.id).with_for_update()).all())
            row = s.get(UserRow, int(user_id), with_for_update=True)
            if row is None:
                raise RegistryError(f"账号不存在 / no such account: {user_id}")
            new_role = row.role if role is None else role
            new_adcode = row.adcode if adcode is None else adcode
            if role is not None and role != row.role and adcode is None:
                new_adcode = ""       # a new role needs its own scope (a district must name one)
            new_adcode = self._check_role(new_role, new_adcode)
            new_active = bool(row.active) if active is None else bool(active)
            if row.role == "admin" and row.active and (new_role != "admin" or not new_active):
                if admins <= 1:
                    raise RegistryError("不能停用或降级最后一个管理员 / the last active admin cannot be demoted "
                                        "or deactivated")
            if password is not None:
                self._check_password(password)
                row.password_hash = generate_password_hash(password)
            row.role, row.adcode, row.active = new_role, new_adcode, int(new_active)
            return {"id": row.id, "username": row.username, "role": row.role, "adcode": row.adcode,
                    "active": bool(row.active)}

    def check_user(self, username: str, password: str) -> dict[str, Any] | None:
        """The user's record when the password is right, else None."""
        if "\x00" in username:              # no account has one (PostgreSQL text cannot hold NUL)
            return None
        with self.Session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username, UserRow.active == 1))
            if row is None or not check_password_hash(row.password_hash, password):
                return None
            return _account(row)

    def get_user(self, user_id: int) -> dict[str, Any] | None:
        """An active account by id (without the password hash), or None."""
        with self.Session() as s:
            row = s.get(UserRow, int(user_id))
            if row is None or not row.active:
                return None
            return _account(row)

    def users(self) -> pd.DataFrame:
        """Accounts (without password hashes)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(UserRow.id, UserRow.username, UserRow.role, UserRow.adcode,
                                       UserRow.created_at, UserRow.active).order_by(UserRow.id)).all()
        return pd.DataFrame(rows, columns=["id", "username", "role", "adcode", "created_at", "active"])
