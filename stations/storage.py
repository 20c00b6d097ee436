"""Registry storage: SQLAlchemy 2 over SQLite (WAL) by default, any SQLAlchemy URL otherwise.

Tables: ``stations`` (current state), ``station_history`` (every change with who and when, the
row before and after, so a change can be shown and undone), ``users`` (admin / planner /
district union bound to one adcode, with hashed passwords).  Every write is one transaction:
an import either writes all its rows and their history or nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    DateTime,
    Float,
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
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from . import model
from ._errors import RegistryError, UndoConflict

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


class StationRow(Base):
    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
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
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    orig_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    orig_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    orig_crs: Mapped[str] = mapped_column(String(8), default="wgs84")


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


class ProposalHistoryRow(Base):
    __tablename__ = "proposal_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(16))   # submit | accept | reject | build
    user: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=lambda: datetime.now(timezone.utc))
    note: Mapped[str] = mapped_column(Text, default="")


_FIELDS = [c for c in model.COLUMNS]


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


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite files get WAL journal mode, foreign keys and a busy timeout."""
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(url, future=True,
                           connect_args={"timeout": 30, "check_same_thread": False} if is_sqlite else {})
    if is_sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    return engine


class Registry:
    """The station registry: stations, their history and the users, in one database.

    >>> reg = Registry("sqlite:///instance/yizhan.sqlite")   # doctest: +SKIP
    >>> reg.stations()                                        # a DataFrame with model.COLUMNS
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self._version: int | None = None

    # -- reading -----------------------------------------------------------------------------
    def stations(self, *, status: str | None = None) -> pd.DataFrame:
        """All stations as a registry frame (optionally only one status), ordered by id."""
        stmt = select(*[getattr(StationRow, c) for c in _FIELDS]).order_by(StationRow.id)
        if status:
            stmt = stmt.where(StationRow.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return model.empty_frame()
        frame = pd.DataFrame(rows, columns=_FIELDS)
        frame["capacity"] = frame["capacity"].astype("Int64")
        for c in ("lon", "lat", "orig_lon", "orig_lat"):
            frame[c] = frame[c].astype("float64")
        return frame

    def count(self) -> int:
        """Number of stations."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(StationRow)).scalar_one())

    def get(self, station_id: str) -> dict[str, Any] | None:
        """One station as a dict, or None."""
        with self.Session() as s:
            obj = s.get(StationRow, station_id)
            return _row_dict(obj) if obj else None

    def version(self) -> int:
        """A number that changes whenever the stations change (the last history id)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(HistoryRow.id), 0))).scalar_one())

    # -- writing -----------------------------------------------------------------------------
    def import_frame(self, frame: pd.DataFrame, *, user: str = "", note: str = "",
                     default_source: str = "") -> dict[str, Any]:
        """Write a validated registry frame in one transaction: new ids are created, existing ids
        updated; every change gets a history row sharing one batch id.  Returns counts and batch.

        Empty ``source`` cells become ``default_source`` for new stations and keep the recorded
        source of stations already registered."""
        batch = uuid.uuid4().hex
        records = [{c: _clean(v) for c, v in zip(_FIELDS, row)}
                   for row in frame[_FIELDS].itertuples(index=False, name=None)]
        at = _now()
        with self.Session.begin() as s:
            ids = [r["id"] for r in records]
            existing: dict[str, dict[str, Any]] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for obj in s.scalars(select(StationRow).where(StationRow.id.in_(chunk))):
                    existing[obj.id] = _row_dict(obj)
            for r in records:
                if not r.get("source"):
                    r["source"] = existing[r["id"]]["source"] if r["id"] in existing else default_source
            new = [r for r in records if r["id"] not in existing]
            changed = [r for r in records if r["id"] in existing and _differs(existing[r["id"]], r)]
            if new:
                s.execute(insert(StationRow), new)
            for r in changed:
                s.execute(update(StationRow).where(StationRow.id == r["id"]).values(**r))
            history = [{"station_id": r["id"], "action": "create", "before": None,
                        "after": json.dumps(r, ensure_ascii=False), "user": user, "at": at,
                        "batch": batch, "note": note} for r in new]
            history += [{"station_id": r["id"], "action": "update",
                         "before": json.dumps(existing[r["id"]], ensure_ascii=False),
                         "after": json.dumps(r, ensure_ascii=False), "user": user, "at": at,
                         "batch": batch, "note": note} for r in changed]
            if history:
                s.execute(insert(HistoryRow), history)
        log.info("imported %d new and %d changed stations (batch %s)", len(new), len(changed), batch)
        return {"created": len(new), "updated": len(changed),
                "unchanged": len(records) - len(new) - len(changed), "batch": batch}

    def update_station(self, station_id: str, changes: dict[str, Any], *, user: str = "",
                       note: str = "") -> dict[str, Any]:
        """Change fields of one station (already validated values); returns the new row."""
        unknown = set(changes) - set(_FIELDS) - {"id"}
        if unknown:
            raise RegistryError(f"未知字段 / unknown fields: {', '.join(sorted(unknown))}")
        with self.Session.begin() as s:
            obj = s.get(StationRow, station_id)
            if obj is None:
                raise RegistryError(f"站点不存在 / no such station: {station_id}")
            before = _row_dict(obj)
            for k, v in changes.items():
                setattr(obj, k, _clean(v))
            after = _row_dict(obj)
            s.add(HistoryRow(station_id=station_id, action="update",
                             before=json.dumps(before, ensure_ascii=False),
                             after=json.dumps(after, ensure_ascii=False), user=user, at=_now(), note=note))
        return after

    def delete_station(self, station_id: str, *, user: str = "", note: str = "") -> None:
        """Delete one station (kept in history, so it can be restored with :meth:`undo`)."""
        with self.Session.begin() as s:
            obj = s.get(StationRow, station_id)
            if obj is None:
                raise RegistryError(f"站点不存在 / no such station: {station_id}")
            before = _row_dict(obj)
            s.delete(obj)
            s.add(HistoryRow(station_id=station_id, action="delete",
                             before=json.dumps(before, ensure_ascii=False), after=None, user=user,
                             at=_now(), note=note))

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
        obj = s.get(StationRow, h.station_id)
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
                s.execute(insert(StationRow), [values])
            else:
                for k, v in values.items():
                    setattr(obj, k, v)
        s.add(HistoryRow(station_id=h.station_id, action="undo",
                         before=json.dumps(current, ensure_ascii=False) if current else None,
                         after=h.before, user=user, at=_now(), batch=batch, note=f"undo #{h.id}"))

    def undo(self, history_id: int, *, user: str = "", force: bool = False) -> str:
        """Revert one recorded change (restores the row as it was before it); returns the action.

        Raises :class:`UndoConflict` when the station changed after that entry (undo the later
        change first, or pass ``force`` to overwrite it anyway — itself recorded and undoable)."""
        with self.Session.begin() as s:
            h = s.get(HistoryRow, history_id)
            if h is None:
                raise RegistryError(f"历史记录不存在 / no such history entry: {history_id}")
            self._undo_one(s, h, user=user, force=force)
        return h.action

    def undo_batch(self, batch: str, *, user: str = "", force: bool = False) -> int:
        """Revert every change of one import batch in one transaction (newest first); returns how
        many.  All or nothing: one conflicting station refuses the whole undo."""
        if not batch:
            raise RegistryError("批次编号为空 / empty batch id")
        undo_batch = uuid.uuid4().hex
        with self.Session.begin() as s:
            entries = list(s.scalars(select(HistoryRow).where(HistoryRow.batch == batch)
                                     .order_by(HistoryRow.id.desc())))
            if not entries:
                raise RegistryError(f"导入批次不存在 / no such batch: {batch}")
            for h in entries:
                self._undo_one(s, h, user=user, force=force, batch=undo_batch)
                s.flush()
        return len(entries)

    def clear_stations(self, *, user: str = "") -> int:
        """Delete every station (each recorded in history); returns how many."""
        frame = self.stations()
        with self.Session.begin() as s:
            s.execute(delete(StationRow))
            at = _now()
            rows = [{"station_id": r["id"], "action": "delete",
                     "before": json.dumps({c: _clean(r[c]) for c in _FIELDS}, ensure_ascii=False),
                     "after": None, "user": user, "at": at, "batch": "", "note": "clear"}
                    for _, r in frame.iterrows()]
            if rows:
                s.execute(insert(HistoryRow), rows)
        return len(frame)

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
        with self.Session.begin() as s:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = list(s.scalars(select(StationRow).where(StationRow.id.in_(chunk))))
                if not rows:
                    continue
                history = [{"station_id": r.id, "action": "delete",
                            "before": json.dumps(_row_dict(r), ensure_ascii=False), "after": None,
                            "user": user, "at": at, "batch": batch, "note": note} for r in rows]
                s.execute(delete(StationRow).where(StationRow.id.in_([r.id for r in rows])))
                s.execute(insert(HistoryRow), history)
                deleted += len(rows)
        return {"deleted": deleted, "batch": batch}

    # -- backup ------------------------------------------------------------------------------
    def backup(self, path: str | Path) -> Path:
        """Write a consistent copy of the registry database to ``path`` (SQLite's online backup).

        Safe while the app is running: readers and writers may continue.  Only for SQLite
        registries; use the database's own tools (pg_dump) for PostgreSQL.
        """
        import sqlite3

        if self.engine.dialect.name != "sqlite":
            raise RegistryError("备份命令只支持 SQLite，PostgreSQL 请用 pg_dump / backup supports SQLite only; use pg_dump")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        raw = self.engine.raw_connection()
        try:
            dst = sqlite3.connect(target)
            try:
                raw.driver_connection.backup(dst)
            finally:
                dst.close()
        finally:
            raw.close()
        return target

    def restore(self, path: str | Path, *, user: str = "") -> dict[str, int]:
        """Replace the registry's contents with a backup made by :meth:`backup` (checked first).

        The backup must pass SQLite's integrity check and hold the registry tables; then it is
        copied over the live database in one step.  Returns the station and user counts restored.
        """
        import sqlite3

        if self.engine.dialect.name != "sqlite":
            raise RegistryError("恢复命令只支持 SQLite / restore supports SQLite only")
        source = Path(path)
        if not source.is_file():
            raise RegistryError(f"找不到备份文件 / backup not found: {source}")
        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            try:
                ok = src.execute("PRAGMA integrity_check").fetchone()[0]
                tables = {r[0] for r in src.execute("select name from sqlite_master where type='table'")}
                if ok != "ok" or not {"stations", "station_history", "users"} <= tables:
                    raise RegistryError("备份文件损坏或不是驿站通数据库 / the backup is damaged or not a yizhan registry")
                counts = {"stations": src.execute("select count(*) from stations").fetchone()[0],
                          "users": src.execute("select count(*) from users").fetchone()[0]}
                self.engine.dispose()
                raw = self.engine.raw_connection()
                try:
                    src.backup(raw.driver_connection)
                finally:
                    raw.close()
            finally:
                src.close()
        except sqlite3.DatabaseError as exc:
            raise RegistryError(f"备份文件无法读取 / cannot read the backup: {exc}") from exc
        Base.metadata.create_all(self.engine)
        log.info("registry restored from %s by %s", source, user or "-")
        return counts

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
        with self.Session.begin() as s:
            if s.scalar(select(UserRow).where(UserRow.username == username)):
                raise RegistryError(f"用户已存在 / user exists: {username}")
            row = UserRow(username=username, password_hash=generate_password_hash(password), role=role,
                          adcode=adcode)
            s.add(row)
            s.flush()
            return int(row.id)

    def update_user(self, user_id: int, *, role: str | None = None, adcode: str | None = None,
                    password: str | None = None, active: bool | None = None) -> dict[str, Any]:
        """Change an account's role/scope, password or active flag; returns the account.

        The last active admin cannot be demoted or deactivated (someone must manage accounts).
        A deactivated account is logged out at its next request."""
        with self.Session.begin() as s:
            row = s.get(UserRow, int(user_id))
            if row is None:
                raise RegistryError(f"账号不存在 / no such account: {user_id}")
            new_role = row.role if role is None else role
            new_adcode = row.adcode if adcode is None else adcode
            if role is not None and role != row.role and adcode is None:
                new_adcode = ""       # a new role needs its own scope (a district must name one)
            new_adcode = self._check_role(new_role, new_adcode)
            new_active = bool(row.active) if active is None else bool(active)
            if row.role == "admin" and row.active and (new_role != "admin" or not new_active):
                admins = s.scalar(select(func.count()).select_from(UserRow)
                                  .where(UserRow.role == "admin", UserRow.active == 1))
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
