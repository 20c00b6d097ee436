"""The proposal workflow: district unions propose new station sites, planners review them.

* A district union (role ``district``, bound to one adcode) submits a site in its own district
  only: the site's location must fall in that district (checked against the real boundaries;
  the district's own adcode is stored).  Planners and admins may submit anywhere.
* The impact (computed by the caller with the coverage engine) is stored with the proposal.
* Planners/admins accept or reject with a comment; an accepted proposal can be turned into a
  station in state 筹建中 (planned) through the ordinary registry import path (with history).

Every step is one transaction and leaves a row in ``proposal_history``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from sqlalchemy import select

from . import model
from ._errors import RegistryError, WriteConflict
from .storage import ProposalHistoryRow, ProposalRow, Registry, in_scope, scope_prefix

STATUSES = ("待审核", "已采纳", "已驳回")
_COLUMNS = ["id", "adcode", "name", "type", "host", "services", "reason", "lon", "lat", "status", "submitted_by",
            "submitted_at", "reviewed_by", "reviewed_at", "review_comment", "impact", "station_id"]
REVIEWERS = ("planner", "admin")


class PermissionDenied(RegistryError):
    """The user's role or district does not allow this action."""


class StateConflict(RegistryError):
    """The proposal is not in a state that allows this step (already reviewed, not accepted, built)."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _as_dict(row: ProposalRow) -> dict[str, Any]:
    return {
        "id": row.id, "adcode": row.adcode, "name": row.name, "type": row.type, "host": row.host,
        "services": model.split_list(row.services), "reason": row.reason, "lon": row.lon, "lat": row.lat,
        "status": row.status, "submitted_by": row.submitted_by,
        "submitted_at": row.submitted_at.isoformat() if row.submitted_at else None,
        "reviewed_by": row.reviewed_by, "reviewed_at": row.reviewed_at.isoformat() if row.reviewed_at else None,
        "review_comment": row.review_comment, "impact": json.loads(row.impact or "{}"), "station_id": row.station_id,
    }


def submit(registry: Registry, user: dict[str, Any], *, lon: float, lat: float, name: str, type: str,
           host: str = "", services: str = "", reason: str = "", impact: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store a proposal from ``user`` (a dict with username, role, adcode); returns it.

    Raises PermissionDenied when a district union proposes outside its district, RegistryError
    (bilingual) for bad values.
    """
    from ..geodata.boundaries import district_of

    role = user.get("role")
    if role not in ("district", *REVIEWERS):
        raise PermissionDenied("没有提交选址建议的权限 / not allowed to submit proposals")
    if not (isinstance(lon, (int, float)) and isinstance(lat, (int, float)) and math.isfinite(lon)
            and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise RegistryError("坐标无效 / invalid coordinates")
    name = str(name or "").strip()
    if not name or len(name) > 200:
        raise RegistryError("名称为空或过长 / name empty or too long")
    stype = model.normalize_type(type)
    if stype is None:
        raise RegistryError(f"未知站点类型 / unknown station type: {type}")
    if len(str(reason)) > 2000:
        raise RegistryError("理由过长（最多 2000 字）/ reason too long")
    host, services = model.normalize_host(host), model.normalize_services(services)
    if len(host) > 100:
        raise RegistryError("举办单位过长（最多 100 字）/ host too long (at most 100 characters)")
    if len(services) > 500:
        raise RegistryError("服务内容过长（合计最多 500 字）/ services too long (at most 500 characters in all)")
    located = str(district_of([lon], [lat])[0])
    if role == "district":
        if located != user.get("adcode"):
            raise PermissionDenied(
                f"区工会只能为本区（{user.get('adcode')}）提交选址，该位置位于 {located or '辖区外'} / a district union "
                f"may only propose sites in its own district ({user.get('adcode')}); this site is in {located or 'another area'}")
    elif not in_scope(user, located):
        raise PermissionDenied("该位置不在您的辖区内 / this site is outside your area")
    with registry.write() as s:
        row = ProposalRow(adcode=located, name=name, type=stype, host=host,
                          services=services, reason=str(reason), lon=float(lon),
                          lat=float(lat), submitted_by=user["username"], submitted_at=_now(),
                          impact=json.dumps(impact or {}, ensure_ascii=False, default=float))
        s.add(row)
        s.flush()
        s.add(ProposalHistoryRow(proposal_id=row.id, action="submit", user=user["username"], at=_now()))
        return _as_dict(row)


def listing(registry: Registry, user: dict[str, Any] | None = None, *, status: str | None = None) -> pd.DataFrame:
    """Proposals visible to ``user``: those in its area (a district union its district's, a city
    planner its city's, admins and province planners all); every proposal without a user."""
    stmt = select(ProposalRow).order_by(ProposalRow.id.desc())
    if user:
        prefix = scope_prefix(user)
        if prefix is None:
            return pd.DataFrame(columns=_COLUMNS)
        if prefix:
            stmt = stmt.where(ProposalRow.adcode.startswith(prefix, autoescape=True))
    if status:
        stmt = stmt.where(ProposalRow.status == status)
    with registry.Session() as s:
        rows = [_as_dict(r) for r in s.scalars(stmt)]
    return pd.DataFrame(rows, columns=_COLUMNS)


def get(registry: Registry, proposal_id: int) -> dict[str, Any] | None:
    """One proposal as a dict, or None."""
    with registry.Session() as s:
        row = s.get(ProposalRow, int(proposal_id))
        return _as_dict(row) if row else None


def review(registry: Registry, user: dict[str, Any], proposal_id: int, *, accept: bool, comment: str = "") -> dict[str, Any]:
    """Accept or reject a pending proposal (planners and admins only)."""
    if user.get("role") not in REVIEWERS:
        raise PermissionDenied("只有规划人员可以审核 / only planners review proposals")
    with registry.write() as s:
        row = s.get(ProposalRow, int(proposal_id), with_for_update=True)
        if row is None:
            raise RegistryError(f"选址建议不存在 / no such proposal: {proposal_id}")
        if not in_scope(user, row.adcode):
            raise PermissionDenied("该选址建议不在您的辖区内 / this proposal is outside your area")
        if row.status != "待审核":
            raise StateConflict(f"该建议已审核（{row.status}）/ already reviewed")
        row.status = "已采纳" if accept else "已驳回"
        row.reviewed_by, row.reviewed_at, row.review_comment = user["username"], _now(), str(comment)[:2000]
        s.add(ProposalHistoryRow(proposal_id=row.id, action="accept" if accept else "reject", user=user["username"],
                                 at=_now(), note=str(comment)[:2000]))
        return _as_dict(row)


def build(registry: Registry, user: dict[str, Any], proposal_id: int) -> dict[str, Any]:
    """Turn an accepted proposal into a registry station in state 筹建中; returns the station."""
    if user.get("role") not in REVIEWERS:
        raise PermissionDenied("只有规划人员可以建站 / only planners create stations")
    prop = get(registry, proposal_id)
    if prop is None:
        raise RegistryError(f"选址建议不存在 / no such proposal: {proposal_id}")
    if not in_scope(user, prop["adcode"]):
        raise PermissionDenied("该选址建议不在您的辖区内 / this proposal is outside your area")
    if prop["status"] != "已采纳" or prop["station_id"]:
        raise StateConflict("只有已采纳且尚未建站的建议可以转为站点 / only accepted proposals without a station")
    station_id = f"P{int(proposal_id):06d}"
    frame = model.empty_frame().reindex(range(1))
    values = {"id": station_id, "name": prop["name"], "type": prop["type"],
              "groups": model.SEP.join(model.DEFAULT_GROUPS_BY_TYPE[prop["type"]]), "address": "",
              "adcode": prop["adcode"], "host": prop["host"], "services": model.SEP.join(prop["services"]),
              "hours": "", "phone": "", "status": "筹建中", "source": f"选址建议 #{proposal_id}",
              "updated_at": _now().strftime("%Y-%m-%dT%H:%M:%S"), "lon": prop["lon"], "lat": prop["lat"],
              "orig_lon": prop["lon"], "orig_lat": prop["lat"], "orig_crs": "wgs84"}
    for k, v in values.items():
        frame.loc[0, k] = v
    try:
        registry.import_frame(frame, user=user["username"], note=f"proposal #{proposal_id}", create_only=True)
    except WriteConflict:             # built a moment ago by someone else
        raise StateConflict("该建议已转为站点 / this proposal has its station already") from None
    with registry.write() as s:
        row = s.get(ProposalRow, int(proposal_id), with_for_update=True)
        row.station_id = station_id
        s.add(ProposalHistoryRow(proposal_id=row.id, action="build", user=user["username"], at=_now(),
                                 note=station_id))
    return registry.get(station_id)


def history(registry: Registry, proposal_id: int) -> pd.DataFrame:
    """The proposal's history rows, oldest first."""
    with registry.engine.connect() as conn:
        rows = conn.execute(select(ProposalHistoryRow.id, ProposalHistoryRow.action, ProposalHistoryRow.user,
                                   ProposalHistoryRow.at, ProposalHistoryRow.note)
                            .where(ProposalHistoryRow.proposal_id == int(proposal_id))
                            .order_by(ProposalHistoryRow.id)).all()
    return pd.DataFrame(rows, columns=["id", "action", "user", "at", "note"])
