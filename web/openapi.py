"""The OpenAPI 3.0 document of the JSON API, served at ``/openapi.json`` (blueprint ``openapi``).

Hand-written next to :mod:`yizhan.web.api` so that it states exactly what the API checks: every
query parameter with its type, enum and range (unknown parameters are rejected, so none may be
missing here), the request bodies (``additionalProperties: false``: unknown members are rejected)
and the answers, including the error object.  Precise enough for property-based fuzzing
(schemathesis) against a running server.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from flask import Blueprint, jsonify

from ..stations import model
from .geo import BBOX_PATTERN

bp = Blueprint("openapi", __name__)

#: ``open_at``: HH:MM, or an ISO date-time (the server also takes days 29-31 where the month has them).
OPEN_AT_PATTERN = (r"^(?:(?:[01]?[0-9]|2[0-3]):[0-5][0-9]|[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
                   r"T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?)$")
CRS = ["wgs84", "gcj02", "bd09"]
ENCODINGS = ["auto", "utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"]
#: 409 of a registry write that collided with a concurrent one.
CONFLICT = ("The change collided with concurrent ones (the same new station id created twice, a station that kept "
            "changing under an edit without If-Match); nothing was written: try again.")


def _q(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional body member that may also be null: the API reads null as absent (empty)."""
    out = _nullable(schema)
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}
STRING = {"type": "string"}
N_NUMBER = _nullable(NUMBER)
N_STRING = _nullable(STRING)


def _parameters() -> dict[str, dict[str, Any]]:
    groups = ["", *model.GROUPS]
    return {
        "lon": _q("lon", {"type": "number", "minimum": -180, "maximum": 180},
                  "Longitude in degrees (in the system given by `crs`).", required=True),
        "lat": _q("lat", {"type": "number", "minimum": -90, "maximum": 90},
                  "Latitude in degrees (in the system given by `crs`).", required=True),
        "crs": _q("crs", {"type": "string", "enum": CRS, "default": "wgs84"},
                  "Coordinate system of lon/lat: wgs84 (GPS), gcj02 (Amap/Tencent), bd09 (Baidu)."),
        "out_crs": _q("out_crs", {"type": "string", "enum": CRS, "default": "wgs84"},
                      "Coordinate system of every coordinate of the GeoJSON answer."),
        "bbox": _q("bbox", {"type": "string", "pattern": BBOX_PATTERN, "maxLength": 200},
                   "minLon,minLat,maxLon,maxLat in WGS-84 degrees (plain decimals; lon -180..180, lat -90..90; "
                   "corners in either order)."),
        "type": _q("type", {"type": "string", "enum": ["", *model.STATION_TYPES]}, "Station type."),
        "group": _q("group", {"type": "string", "enum": groups},
                    "Worker group (empty: every station in service; coverage threshold 1 km)."),
        "metric": _q("metric", {"type": "string", "enum": ["great-circle", "grid", "network"],
                                "default": "great-circle"},
                     "Distance metric; `network` answers 409 when no OSM_FILE is configured."),
        "hour": _q("hour", {"type": "integer", "minimum": 0, "maximum": 23},
                   "Hour of the day: stations open at HH:30 and that hour's demand (empty: all day)."),
        "res": _q("res", {"type": "integer", "minimum": 7, "maximum": 11, "default": 9}, "H3 analysis resolution."),
        "threshold_m": _q("threshold_m", {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1000000},
                          "Coverage threshold in metres (default: the group's)."),
        "zoom": _q("zoom", {"type": "number", "minimum": 0, "maximum": 24}, "Map zoom level (level of detail)."),
        "dataset": _q("dataset", {"type": "string", "pattern": "^([0-9]{1,10})?$", "maxLength": 10, "default": ""},
                      "Hotspot dataset id (GET /api/datasets); empty: the newest dataset, or the configured hotspot "
                      "file (HOTSPOTS_FILE / the sample) when there is none. An unknown id answers 404."),
    }


COVERAGE = ["metric", "group", "hour", "res", "threshold_m", "dataset"]


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _errors(*codes: int, **override: str) -> dict[str, Any]:
    """Error answers for ``codes``; ``e409="..."`` etc. replace the default descriptions."""
    text = {400: "Bad request: invalid, missing or unknown parameter or body member.",
            401: "Login required.", 403: "Forbidden: missing/invalid CSRF token, role or district.",
            404: "Not found (no hotspot data for coverage routes).",
            409: "The network metric needs a road network (OSM_FILE).", 413: "Request body too large.",
            412: "If-Match names a version that is no longer current: the station was changed by "
                 "someone else since (a station deleted meanwhile answers 404). Nothing was changed; error.current is the station now, its version "
                 "error.version and the ETag header — reload and edit again.",
            415: "Unsupported file type.", 503: "Service unavailable.",
            429: "Too many requests from this client (rate limit; see Retry-After)."}
    text.update({int(k[1:]): v for k, v in override.items()})
    return {str(c): _error_response(text[c]) for c in codes}


def _ok(schema: dict[str, Any], description: str = "OK", mimetype: str = "application/json",
        status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {mimetype: {"schema": schema}}}}


#: The ETag of a station: its version as a quoted decimal (strong).
ETAG_HEADER = {"ETag": {"description": "The station's version, a strong entity tag such as \"3\": send it "
                                       "back in If-Match to change the station only while nobody else has.",
                        "schema": {"type": "string"}}}
IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
            "description": "Change the station only while it is at this version (its ETag, e.g. \"3\"; * = any "
                           "version); 412 otherwise. Without it a PATCH applies to the newest state.",
            "schema": {"type": "string"}}


def _with_etag(responses: dict[str, Any], *codes: str) -> dict[str, Any]:
    """``responses`` whose ``codes`` answers carry the station's ETag header."""
    for code in codes:
        responses[code] = {**responses[code], "headers": ETAG_HEADER}
    return responses


def _get(summary: str, params: list[Any], responses: dict[str, Any], *, tag: str, security: bool = False,
         description: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "parameters": params, "responses": responses}
    if description:
        op["description"] = description
    if security:
        op["security"] = [{"session": []}]
    return op


def _post(summary: str, body: dict[str, Any] | None, responses: dict[str, Any], *, tag: str,
          params: list[Any] | None = None, description: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "security": [{"session": []}],
                          "parameters": [{"$ref": "#/components/parameters/csrf"}, *(params or [])],
                          "responses": responses}
    if description:
        op["description"] = description
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _station_input(required: list[str]) -> dict[str, Any]:
    """A station in a JSON body (the registry's validation rules apply on top of these types; null
    text members are read as empty)."""
    text = _or_null({"type": "string", "maxLength": 500})
    lst = {"oneOf": [{"type": "array", "maxItems": 30, "items": {"type": "string", "maxLength": 50}}, text]}
    return {"type": "object", "additionalProperties": False, "required": required, "properties": {
        "id": _or_null({"type": "string", "maxLength": 64, "description": "empty: generated from name and location"}),
        "name": {"type": "string", "minLength": 1, "maxLength": 200}, "type": {"type": "string", "maxLength": 50},
        "groups": lst, "address": text, "adcode": text, "host": text, "services": lst, "hours": text,
        "capacity": _nullable({"type": "integer", "minimum": 0, "maximum": 1000000}), "phone": text,
        "status": text, "source": text,
        "lon": {"type": "number", "minimum": -180, "maximum": 180},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "crs": _or_null({"type": "string", "enum": CRS, "default": "wgs84"}),
        "note": _or_null({"type": "string", "maxLength": 500, "description": "kept in the change history"})}}


def _station_patch() -> dict[str, Any]:
    """The PATCH body: any station members, and for a station waiting for a location (待定位) the
    members that place it."""
    out = copy.deepcopy(_station_input(required=[]))
    out["properties"]["lon"]["description"] = (
        "with lat (and crs): the new location. On a waiting station (待定位) this places it: it keeps its stated "
        "district (a point far from it answers 400; an empty one is found from the location), takes the status "
        "it waited for (located_status, else 在运营), precision manual; history note 'placed on the map'")
    out["properties"]["accept_candidate"] = {
        "type": "boolean", "default": False,
        "description": "true: place the waiting station at its geocoder's candidate (its coordinates and "
                       "precision); 400 when it has none, or one that only names the district. Not with lon/lat "
                       "or candidate"}
    out["properties"]["candidate"] = {
        "nullable": True, "enum": [None],
        "description": "null: reject the geocoder's candidate of a waiting station (cleared, recorded in the "
                       "history, undoable)"}
    return out


def _write(method: str, summary: str, body: dict[str, Any] | None, responses: dict[str, Any], *, tag: str,
           params: list[Any] | None = None, description: str = "", body_required: bool = True,
           form: dict[str, Any] | None = None) -> dict[str, Any]:
    """A state-changing operation (CSRF header, session): JSON ``body`` or multipart ``form``."""
    op = _post(summary, None, responses, tag=tag, params=params, description=description)
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
    if form is not None:
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": form}}}
    return op


def _schemas() -> dict[str, Any]:
    feature = {"type": "object", "required": ["type", "geometry", "properties"],
               "properties": {"type": {"type": "string", "enum": ["Feature"]},
                              "geometry": {"type": "object", "required": ["type", "coordinates"], "nullable": True,
                                           "description": "null for a station waiting for a location (待定位)",
                                           "properties": {"type": STRING, "coordinates": {"type": "array"}}},
                              "properties": {"type": "object"}}}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["zh", "en", "status"],
            "properties": {"zh": {"type": "string", "description": "message in Chinese"},
                           "en": {"type": "string", "description": "message in English"},
                           "field": {"type": "string", "description": "the parameter or body member at fault"},
                           "status": {"type": "integer", "description": "HTTP status"},
                           "problems": {"type": "array", "items": _ref("Problem"),
                                        "description": "every problem of a rejected station or file"},
                           "problem_count": INTEGER}}}},
        "Problem": {"type": "object", "required": ["code", "zh", "en"],
                    "properties": {"row": _nullable(INTEGER), "column": N_STRING, "code": STRING, "zh": STRING,
                                   "en": STRING, "value": N_STRING}},
        "Feature": feature,
        "FeatureCollection": {"type": "object", "required": ["type", "features"],
                              "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                                             "features": {"type": "array", "items": _ref("Feature")}}},
        "CellsCollection": {"allOf": [_ref("FeatureCollection"), {"type": "object", "required": ["lod"], "properties": {
            "lod": {"type": "object", "required": ["res", "analysis_res", "zoom_res", "coarsened", "n_features"],
                    "properties": {"res": {"type": "integer", "minimum": 0, "maximum": 15,
                                           "description": "H3 resolution of the hexagons in this answer"},
                                   "analysis_res": INTEGER, "zoom_res": INTEGER,
                                   "coarsened": {"type": "boolean", "description":
                                                 "coarser than the zoom asks, to stay under max_features"},
                                   "aggregated": {"type": "boolean"}, "zoom": N_NUMBER,
                                   "n_features": INTEGER, "max_features": INTEGER}},
            "features": {"type": "array", "items": {"allOf": [_ref("Feature"), {"type": "object", "properties": {
                "properties": {"type": "object", "required": ["h3", "demand", "distance_m", "covered", "dclass", "res"],
                               "properties": {"h3": STRING, "demand": NUMBER, "distance_m": N_NUMBER,
                                              "covered": {"type": "boolean"}, "covered_share": NUMBER,
                                              "nearest_id": N_STRING, "dclass": {"type": "integer", "minimum": 0,
                                                                                 "maximum": 4},
                                              "res": INTEGER, "n_cells": INTEGER}}}}]}}}}]},
        "NearestStation": {"type": "object",
                           "required": ["id", "name", "type", "lon", "lat", "distance_m", "riding_time_s",
                                        "road_distance_m", "open_now", "nav"],
                           "properties": {
                               "id": STRING, "name": STRING, "type": STRING, "lon": NUMBER, "lat": NUMBER,
                               "distance_m": {"type": "number", "description": "great-circle metres"},
                               "road_distance_m": _nullable({"type": "number", "description":
                                                             "metres along roads (null without a network)"}),
                               "riding_time_s": {"type": "number", "description":
                                                 "seconds at 15 km/h: along roads, else great-circle x 1.3"},
                               "open_now": _nullable({"type": "boolean", "description": "null: hours unknown"}),
                               "open": {"type": "boolean"},
                               "nav": {"type": "object", "required": ["amap", "baidu"],
                                       "properties": {"amap": STRING, "baidu": STRING}},
                               "address": N_STRING, "adcode": N_STRING, "groups": {"type": "array", "items": STRING},
                               "host": N_STRING, "services": {"type": "array", "items": STRING}, "hours": N_STRING,
                               "capacity": _nullable(INTEGER), "phone": N_STRING, "status": N_STRING}},
        "Params": {"type": "object",
                   "description": "the analysis parameters (metric, res, group, hour, threshold_m ...)",
                   "properties": {"metric": STRING, "res": INTEGER, "group": N_STRING, "hour": _nullable(INTEGER),
                                  "threshold_m": NUMBER}},
        "Summary": {"type": "object", "required": ["params", "rows", "covered_share"], "properties": {
            "params": _ref("Params"),
            "rows": {"type": "array", "items": {"type": "object", "required": ["adcode", "name", "level"],
                                                "properties": {
                "adcode": STRING, "name": STRING, "level": {"type": "string", "enum": ["district", "city", "province", "total"]},
                "n_stations": INTEGER, "demand": NUMBER, "covered_demand": NUMBER, "uncovered_demand": NUMBER,
                "covered_share": N_NUMBER, "mean_distance_m": N_NUMBER, "n_cells": INTEGER,
                "n_blank_spots": INTEGER, "n_blind_zones": INTEGER}}},
            "covered_share": N_NUMBER, "total_demand": NUMBER, "n_cells": INTEGER, "n_blank_spots": INTEGER,
            "n_blind_zones": INTEGER, "admin_blind_zones": {"type": "array", "items": {"type": "object"}},
            "dataset": _nullable({"type": "object", "properties": {"id": INTEGER, "name": STRING},
                                  "description": "the hotspot dataset analysed (null: the hotspot file)"})}},
        "Dataset": {"type": "object", "required": ["id", "name", "rows", "created_at"], "properties": {
            "id": INTEGER, "name": STRING, "rows": {**INTEGER, "description": "rows kept"},
            "skipped": {**INTEGER, "description": "bad rows skipped (skip_bad_rows)"},
            "kind": {"type": "string", "enum": ["points", "cells"]}, "crs": {"type": "string", "enum": CRS},
            "source_name": STRING, "bytes": {**INTEGER, "description": "size of the file as uploaded"},
            "sha256": {**STRING, "description": "of the stored (normalised) file"},
            "created_at": {**STRING, "format": "date-time"}, "created_by": STRING,
            "problems": {"type": "array", "items": {"type": "object"},
                         "description": "(upload answer only) the problems of the rows skipped"}}},
        "CorridorGap": {"type": "object", "required": ["from_km", "to_km", "length_km", "direction", "piece",
                                                       "from_lon", "from_lat", "to_lon", "to_lat"],
                        "properties": {"from_km": NUMBER, "to_km": NUMBER,
                                       "length_km": {"type": "number", "description": "km along the road"},
                                       "direction": {"type": "string", "enum": ["forward", "backward", "both"]},
                                       "piece": {"type": "integer", "minimum": 1}, "from_lon": NUMBER,
                                       "from_lat": NUMBER, "to_lon": NUMBER, "to_lat": NUMBER,
                                       "from_station": {"type": "string", "description": "station id ('' at a piece end)"},
                                       "to_station": STRING, "over_max": {"type": "boolean"}}},
        "Corridor": {"type": "object", "required": ["ref", "name", "length_km", "pieces", "stations", "longest_gap_km",
                                                    "share_within_reach", "gaps"],
                     "properties": {"ref": STRING, "name": STRING,
                                    "length_km": {"type": "number", "description": "the longer direction's length"},
                                    "pieces": INTEGER, "directions": STRING,
                                    "stations": {"type": "integer", "description": "stations serving the corridor"},
                                    "longest_gap_km": NUMBER, "n_gaps_over_max": INTEGER,
                                    "share_within_reach": {"type": "number", "minimum": 0, "maximum": 1},
                                    "gaps": {"type": "array", "items": _ref("CorridorGap"),
                                             "description": "longest first"}}},
        "Corridors": {"type": "object", "required": ["corridors", "gaps"], "properties": {
            "corridors": {"type": "array", "items": _ref("Corridor"), "description": "longest gap first"},
            "gaps": {"allOf": [_ref("FeatureCollection"), {"type": "object", "properties": {"features": {
                "type": "array", "items": {"allOf": [_ref("Feature"), {"type": "object", "properties": {
                    "properties": {"type": "object", "required": ["ref", "name", "length_km", "from_km", "to_km",
                                                                  "direction", "piece"],
                                   "properties": {"ref": STRING, "name": STRING, "length_km": NUMBER,
                                                  "from_km": NUMBER, "to_km": NUMBER, "direction": STRING,
                                                  "piece": INTEGER, "over_max": {"type": "boolean"},
                                                  "from_station": STRING, "to_station": STRING}}}}]}}}}]},
            "params": {"type": "object"}}},
        "HourlyRow": {"type": "object", "required": ["hour", "open_stations", "demand", "covered_demand",
                                                     "covered_share", "uncovered_cells"],
                      "properties": {"hour": {"type": "integer", "minimum": 0, "maximum": 23},
                                     "open_stations": INTEGER, "demand": NUMBER, "covered_demand": NUMBER,
                                     "covered_share": N_NUMBER, "uncovered_cells": INTEGER}},
        "Impact": {"type": "object", "required": ["new_demand", "new_share", "covered_before", "covered_after",
                                                  "total_demand", "site"],
                   "properties": {"new_demand": NUMBER, "new_share": N_NUMBER, "covered_before": NUMBER,
                                  "covered_after": NUMBER, "total_demand": NUMBER, "share_before": N_NUMBER,
                                  "share_after": N_NUMBER, "blank_spots_removed": INTEGER,
                                  "blind_zones_touched": INTEGER, "blind_zones_removed": INTEGER,
                                  "districts": {"type": "array", "items": {"type": "object"}},
                                  "blank_spot_cells": {"type": "array", "items": STRING},
                                  "site": {"type": "object", "required": ["lon", "lat"],
                                           "properties": {"lon": NUMBER, "lat": NUMBER}},
                                  "params": _ref("Params")}},
        "Plan": {"type": "object", "required": ["objective", "solver", "status", "sites", "covered_before",
                                                "covered_after", "total_demand"],
                 "properties": {"objective": {"type": "string", "enum": ["mclp", "lscp"]}, "solver": STRING,
                                "status": STRING, "covered_before": NUMBER, "covered_after": NUMBER,
                                "total_demand": NUMBER, "share_before": N_NUMBER, "share_after": N_NUMBER,
                                "gap": N_NUMBER, "message": STRING, "params": _ref("Params"),
                                "sites": {"type": "array", "items": {
                                    "type": "object", "required": ["lon", "lat", "gain", "rank", "share"],
                                    "properties": {"lon": NUMBER, "lat": NUMBER, "gain": NUMBER,
                                                   "rank": {"type": "integer", "minimum": 1}, "share": N_NUMBER,
                                                   "name": STRING, "host": STRING}}}}},
        "Me": {"type": "object", "required": ["user", "csrf"], "properties": {
            "user": _nullable({"type": "object", "required": ["username", "role", "adcode"],
                               "properties": {"username": STRING,
                                              "role": {"type": "string", "enum": ["admin", "planner", "district"]},
                                              "adcode": STRING}}),
            "csrf": _nullable({"type": "string", "description": "send as X-CSRF-Token with every POST"})}},
        "Health": {"type": "object", "required": ["status", "stations"],
                   "properties": {"status": {"type": "string", "enum": ["ok"]}, "stations": INTEGER}},
        "Proposal": {"type": "object", "required": ["id", "adcode", "name", "type", "lon", "lat", "status"],
                     "properties": {"id": INTEGER, "adcode": STRING, "name": STRING, "type": STRING, "host": N_STRING,
                                    "services": {"type": "array", "items": STRING}, "reason": N_STRING,
                                    "lon": NUMBER, "lat": NUMBER,
                                    "status": {"type": "string", "enum": ["待审核", "已采纳", "已驳回"]},
                                    "submitted_by": N_STRING, "submitted_at": N_STRING, "reviewed_by": N_STRING,
                                    "reviewed_at": N_STRING, "review_comment": N_STRING,
                                    "impact": {"type": "object"}, "station_id": N_STRING,
                                    "history": {"type": "array", "items": {
                                        "type": "object", "properties": {"id": INTEGER, "action": STRING,
                                                                         "user": N_STRING, "at": N_STRING,
                                                                         "note": N_STRING}}}}},
        "Station": {"type": "object", "required": ["id", "name", "type", "lon", "lat", "status"],
                    "properties": {"id": STRING, "name": STRING, "type": STRING, "lon": NUMBER, "lat": NUMBER,
                                   "status": STRING}},
        "ProposalInput": {
            "type": "object", "additionalProperties": False, "required": ["lon", "lat", "name", "type"],
            "properties": {
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "crs": _or_null({"type": "string", "enum": CRS, "default": "wgs84"}),
                "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
                "type": {"type": "string", "enum": list(model.STATION_TYPES)},
                "host": _or_null({"type": "string", "maxLength": 100}),
                "services": {"oneOf": [{"type": "array", "maxItems": 30, "items": {"type": "string", "maxLength": 50}},
                                       _or_null({"type": "string", "maxLength": 500})]},
                "reason": _or_null({"type": "string", "maxLength": 2000}),
                "group": _or_null({"type": "string", "enum": ["", *model.GROUPS],
                                   "description": "worker group whose coverage the stored impact measures"})}},
        "ReviewInput": {"type": "object", "additionalProperties": False, "required": ["accept"],
                        "properties": {"accept": {"type": "boolean"},
                                       "comment": _or_null({"type": "string", "maxLength": 2000})}},
        "RegistryStation": {"type": "object", "required": list(model.COLUMNS), "properties": {
            "id": STRING, "name": STRING, "type": STRING, "groups": STRING, "address": STRING, "adcode": STRING,
            "host": STRING, "services": STRING, "hours": STRING, "capacity": _nullable(INTEGER), "phone": STRING,
            "status": {"type": "string", "enum": list(model.STATUSES),
                       "description": "待定位: waiting for a location (lon/lat null; never counted in coverage, "
                                      "siting or nearest answers until placed)"},
            "source": STRING, "updated_at": STRING,
            "lon": _nullable({"type": "number", "description": "WGS-84; null while waiting for a location"}),
            "lat": _nullable({"type": "number", "description": "WGS-84; null while waiting for a location"}),
            "orig_lon": N_NUMBER, "orig_lat": N_NUMBER, "orig_crs": STRING,
            "precision": {"type": "string", "enum": ["", *model.PRECISIONS],
                          "description": "how exactly the location is known: door (house number), poi (named "
                                         "place), road, district (not enough to count as located), manual (placed "
                                         "by a person); empty: given with coordinates"},
            "located_status": {"type": "string", "enum": ["", *model.LOCATED_STATUSES],
                               "description": "a waiting station: the status it takes once located"},
            "candidate": {"type": "string", "description": "a waiting station: the geocoder's answer waiting for a "
                                                           "person, JSON text {lon, lat (WGS-84), precision, level, "
                                                           "score, label, provider, at, query}, or empty (in the "
                                                           "GeoJSON of GET /api/stations: that object, or null)"}}},
        "StationInput": _station_input(required=["name", "type", "lon", "lat"]),
        "StationPatch": _station_patch(),
        "HistoryEntry": {"type": "object", "required": ["id", "station_id", "action", "user", "at", "changes",
                                                        "before", "after", "undone_by"], "properties": {
            "id": INTEGER, "station_id": STRING, "name": STRING, "adcode": STRING,
            "action": {"type": "string", "enum": ["create", "update", "delete", "undo"]}, "user": STRING,
            "at": STRING, "batch": N_STRING, "note": STRING,
            "changes": {"type": "array", "items": {"type": "object", "required": ["field"], "properties": {
                "field": STRING, "before": {"nullable": True}, "after": {"nullable": True}}}},
            "before": _nullable({"type": "object"}), "after": _nullable({"type": "object"}),
            "undone_by": _nullable(INTEGER)}},
        "HistoryPage": {"type": "object", "required": ["entries", "next_before_id"], "properties": {
            "entries": {"type": "array", "items": _ref("HistoryEntry")}, "next_before_id": _nullable(INTEGER)}},
        "UndoInput": {"type": "object", "additionalProperties": False, "properties": {
            "force": {"type": "boolean", "default": False,
                      "description": "undo even when the station changed since (overwrites the later change)"}}},
        "UndoResult": {"type": "object", "required": ["undone", "action", "history_id", "station"], "properties": {
            "undone": INTEGER, "action": STRING, "history_id": INTEGER,
            "station": _nullable(_ref("RegistryStation"))}},
        "BatchUndoResult": {"type": "object", "required": ["batch", "undone"],
                            "properties": {"batch": STRING, "undone": INTEGER}},
        "DeleteResult": {"type": "object", "required": ["deleted", "history_id"],
                         "properties": {"deleted": STRING, "history_id": INTEGER}},
        "ImportResult": {"type": "object", "required": ["rows", "valid", "dry_run", "created", "batch"], "properties": {
            "rows": INTEGER, "valid": INTEGER, "dry_run": {"type": "boolean"}, "created": INTEGER,
            "updated": _nullable(INTEGER), "unchanged": _nullable(INTEGER), "batch": N_STRING,
            "warnings": {"type": "array", "items": STRING}, "skipped": {"type": "array", "items": _ref("Problem")},
            "skipped_rows": {"type": "array", "items": INTEGER}}},
        "User": {"type": "object", "required": ["id", "username", "role", "adcode", "active"], "properties": {
            "id": INTEGER, "username": STRING, "role": {"type": "string", "enum": ["admin", "planner", "district"]},
            "adcode": STRING, "area_name": N_STRING, "active": {"type": "boolean"}, "created_at": N_STRING}},
        "UserInput": {"type": "object", "additionalProperties": False, "required": ["username", "password", "role"],
                      "properties": {
                          "username": {"type": "string", "minLength": 1, "maxLength": 64},
                          "password": {"type": "string", "minLength": 8, "maxLength": 256},
                          "role": {"type": "string", "enum": ["admin", "planner", "district"]},
                          "adcode": _or_null({"type": "string", "maxLength": 12, "description":
                                              "district: its 6-digit adcode (required); planner: a province or "
                                              "city adcode, or empty for everywhere"})}},
        "UserPatch": {"type": "object", "additionalProperties": False, "properties": {
            "role": _or_null({"type": "string", "enum": ["admin", "planner", "district"]}),
            "adcode": _or_null({"type": "string", "maxLength": 12}),
            "password": _or_null({"type": "string", "minLength": 8, "maxLength": 256}),
            "active": _or_null({"type": "boolean",
                                "description": "false logs the account out and refuses its logins"})}},
        "Empty": {"type": "object", "additionalProperties": False, "maxProperties": 0},
    }


def _paths() -> dict[str, Any]:
    P = {name: {"$ref": f"#/components/parameters/{name}"} for name in _parameters()}
    cov = [P[n] for n in COVERAGE]
    geojson = "application/geo+json"
    fc = _ref("FeatureCollection")
    pid = {"name": "pid", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0,
                                                                      "maximum": 2147483647}}
    statuses = ["", "待审核", "已采纳", "已驳回", "pending", "accepted", "rejected"]
    sid = {"name": "station_id", "in": "path", "required": True,
           "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[^\s/\\]+$"}}
    hid = {"name": "history_id", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647}}
    uid = {"name": "user_id", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647}}
    batch = {"name": "batch", "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": r"^[0-9a-f]+$"}}

    did = {"name": "dataset_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0,
                                                                             "maximum": 2147483647}}
    upload_params = [
        _q("name", {"type": "string", "minLength": 1, "maxLength": 200}, "Dataset name (required; e.g. "
           "2026年10月 平台订单); in the form for multipart."),
        _q("filename", {"type": "string", "maxLength": 200}, "File name (its suffix gives the format; "
           "default upload.csv)."),
        _q("crs", {"type": "string", "enum": CRS, "default": "wgs84"}, "Coordinate system of the file."),
        _q("skip_bad_rows", {"type": "string", "enum": ["0", "1", "true", "false"], "default": "0"},
           "Skip bad rows (counted) instead of refusing the file."),
        _q("encoding", {"type": "string", "enum": ENCODINGS, "default": "auto"}, "Text encoding of a CSV.")]

    def limit(default: int) -> dict[str, Any]:
        return _q("limit", {"type": "integer", "minimum": 1, "maximum": 100000, "default": default},
                  "Most features returned.")

    return {
        "/api/stations": {"get": _get(
            "Stations (GeoJSON points)", [P["type"], P["group"],
                                          _q("status", {"type": "string", "enum": ["", *model.STATUSES]},
                                             "Station status (待定位: stations waiting for a location)."),
                                          _q("adcode", {"type": "string", "pattern": "^[0-9]{0,6}$", "maxLength": 6},
                                             "A 6-digit province, city or district adcode of any province (630000: all of "
                                             "Qinghai, 630100: 西宁市, 500100: all of Chongqing; 404 when unknown) or a "
                                             "shorter adcode prefix (4401)."),
                                          P["bbox"], P["out_crs"]],
            {**_ok(fc, mimetype=geojson), **_errors(400, 404, e404="Unknown 6-digit adcode.")}, tag="stations",
            description="A station waiting for a location (status 待定位) has geometry null (a bbox never holds it) "
                        "and its geocoder's candidate as an object {lon, lat (in out_crs), precision, level, score, "
                        "label, provider, at, query}, or null."),
            "post": _write("post", "Register one station (planner, admin; same validation as an import)",
                           _ref("StationInput"), _with_etag({**_ok(_ref("RegistryStation"), "Created", status="201"),
                                                             **_errors(400, 401, 403, 409, 413,
                                                                       e409="The station id exists.")}, "201"),
                           tag="registry",
                           description="400 lists every problem by field (error.problems).")},
        "/api/nearest": {"get": _get(
            "Nearest stations to a point (riders)",
            [P["lon"], P["lat"], P["crs"],
             _q("k", {"type": "integer", "minimum": 1, "maximum": 50}, "How many stations (default NEAREST_K)."),
             P["type"], P["group"], _q("service", {"type": "string", "maxLength": 50}, "A service the station offers."),
             _q("open_at", {"type": "string", "pattern": OPEN_AT_PATTERN, "maxLength": 40},
                "Only stations open at HH:MM today (in TIMEZONE) or at an ISO date-time YYYY-MM-DDTHH:MM[:SS].")],
            {**_ok({"type": "array", "items": _ref("NearestStation")}), **_errors(400, 429)}, tag="stations",
            description="Great-circle order, or with a road network the short list re-ranked by road distance. "
                        "riding_time_s assumes 15 km/h; without a network great-circle x 1.3.")},
        "/api/health": {"get": _get("Liveness", [], _ok(_ref("Health")), tag="misc")},
        "/api/me": {"get": _get("The logged-in user and CSRF token", [], _ok(_ref("Me")), tag="misc")},
        "/api/boundaries": {"get": _get(
            "Administrative boundaries (GeoJSON, simplified)",
            [_q("level", {"type": "string", "enum": ["province", "city", "district"], "default": "district"},
                "Level of the units."),
             _q("parent", {"type": "string", "pattern": "^([0-9]{6})?$"},
                "Only units inside this area: any province, city or district adcode of mainland China (the area "
                "itself included when it is of that level).  Default: the maps' default area (setting REGION), "
                "its province for level province and city."),
             P["out_crs"]],
            {**_ok(fc, mimetype=geojson), **_errors(400, 404, e404="Unknown adcode.")}, tag="maps")},
        "/api/coverage/cells": {"get": _get(
            "Demand hexagons with distance classes (level of detail by zoom)",
            [*cov, P["bbox"], P["zoom"], P["out_crs"]],
            {**_ok(_ref("CellsCollection"), mimetype=geojson), **_errors(400, 404, 409, 429)}, tag="coverage",
            description="zoom >= 13: analysis resolution; 11-12: parents at res-1; <= 10: res-2; at most 20 000 "
                        "features (coarsened further, see lod.coarsened).")},
        "/api/coverage/blank-spots": {"get": _get(
            "Ranked blank spots (GeoJSON points)", [*cov, P["bbox"], limit(500), P["zoom"], P["out_crs"]],
            {**_ok(fc, mimetype=geojson), **_errors(400, 404, 409, 429)}, tag="coverage")},
        "/api/coverage/blind-zones": {"get": _get(
            "Blind-zone outlines (GeoJSON polygons)",
            [*cov, P["bbox"], _q("min_cells", {"type": "integer", "minimum": 0, "maximum": 1000000000, "default": 0},
                                 "Only zones with at least this many cells."),
             _q("min_demand", {"type": "number", "minimum": 0, "maximum": 1e15, "default": 0},
                "Only zones with at least this demand."), limit(2000), P["zoom"], P["out_crs"]],
            {**_ok(fc, mimetype=geojson), **_errors(400, 404, 409, 429)}, tag="coverage")},
        "/api/coverage/summary": {"get": _get("Per-district coverage summary", cov,
                                              {**_ok(_ref("Summary")), **_errors(400, 404, 409, 429)}, tag="coverage")},
        "/api/coverage/hourly": {"get": _get(
            "Coverage for each hour of the day", [P["metric"], P["group"], P["res"], P["threshold_m"], P["dataset"]],
            {**_ok({"type": "array", "minItems": 24, "maxItems": 24, "items": _ref("HourlyRow")}),
             **_errors(400, 404, 409, 429)}, tag="coverage")},
        "/api/coverage/download": {"get": _get(
            "Download a coverage table",
            [*cov, _q("what", {"type": "string", "enum": ["summary", "cells", "blank-spots", "blind-zones"],
                               "default": "summary"}, "Which table."),
             _q("format", {"type": "string", "enum": ["csv", "xlsx", "geojson"], "default": "csv"},
                "File format. what=summary has no geometry: format=geojson with it answers 400 (a dependency "
                "OpenAPI 3.0 cannot state)."), P["out_crs"]],
            {"200": {"description": "The file (Content-Disposition: attachment)", "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                    {"schema": {"type": "string", "format": "binary"}},
                geojson: {"schema": fc}}}, **_errors(400, 404, 409, 429)}, tag="coverage")},
        "/api/corridors": {"get": _get(
            "Gaps between stations along numbered highways (truck drivers' corridors)",
            [{"name": "ref", "in": "query", "required": False, "style": "form", "explode": True,
              "description": "Highway ref(s), repeatable, each may list several (G6,G109); empty: every ref "
                             "of the file. A ref without a motorway/trunk/primary way in the file answers 400.",
              "schema": {"type": "array", "maxItems": 50, "items": {"type": "string", "maxLength": 50}}},
             _q("group", {"type": "string", "enum": ["", *model.GROUPS]},
                "Worker group the stations serve (empty: 货车司机)."),
             _q("station_radius_m", {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 100000,
                                     "default": 2000}, "How far from the road a station may be (metres)."),
             _q("reach_km", {"type": "number", "minimum": 0, "maximum": 10000, "default": 25},
                "Reach along the road for share_within_reach (km)."),
             _q("max_gap_km", {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 10000,
                               "default": 50}, "Gaps longer than this are flagged over_max (km)."),
             _q("adcode", {"type": "string", "pattern": "^([0-9]{6})?$"},
                "Only corridors and gaps touching this area (the corridors' figures stay whole-corridor)."),
             P["out_crs"]],
            {**_ok(_ref("Corridors")), **_errors(400, 404, 429, e404="No highway file (HIGHWAYS_FILE, or the "
                                                                      "sample's highways.osm), or an unknown adcode.")},
            tag="maps",
            description="Stations in service (在运营) serving the group, within station_radius_m of the road. "
                        "`corridors` is the `yizhan corridors --json` list (longest gap first); `gaps` the gap "
                        "lines (longest first) in out_crs. Lengths in km along the road.")},
        "/api/impact": {"get": _get(
            "Impact of adding a station at a point", [P["lon"], P["lat"], P["crs"], *cov],
            {**_ok(_ref("Impact")), **_errors(400, 404, 409, 429)}, tag="siting")},
        "/api/siting": {"get": _get(
            "Propose new sites (MCLP / LSCP) among the uncovered cell centres",
            [_q("k", {"type": "integer", "minimum": 1, "maximum": 200, "default": 10}, "Number of sites (mclp)."),
             _q("objective", {"type": "string", "enum": ["mclp", "lscp"], "default": "mclp"}, "Objective."),
             _q("target_share", {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1,
                                 "default": 0.9}, "Target covered share (lscp)."),
             _q("solver", {"type": "string", "enum": ["greedy", "exact"], "default": "greedy"}, "Solver."),
             _q("time_limit_s", {"type": "number", "minimum": 1, "maximum": 20, "default": 20},
                "Time limit of the exact solver (seconds)."), *cov],
            {**_ok(_ref("Plan")), **_errors(400, 404, 409, 429)}, tag="siting")},
        "/api/datasets": {
            "get": _get("Hotspot datasets, newest first (any logged-in account)", [],
                        {**_ok({"type": "array", "items": _ref("Dataset")}), **_errors(400, 401)},
                        tag="datasets", security=True),
            "post": {**_write(
                "post", "Upload a hotspot file as a dataset (planner, admin) — streamed to disk, all or nothing",
                None, {**_ok(_ref("Dataset"), "Created", status="201"),
                       **_errors(400, 401, 403, 409, 413, 415, e409="A dataset of this name exists.",
                                 e413="The file is larger than DATASET_MAX_BYTES (default 500 MB).")},
                tag="datasets", params=upload_params,
                description="The file is the raw request body (application/octet-stream, text/csv …; chunked "
                            "transfer accepted; name, filename, crs, skip_bad_rows, encoding as query "
                            "parameters) or the field `file` of a multipart/form-data body (the other fields "
                            "in the form). CSV, Parquet, XLSX, GeoJSON (XLSX/GeoJSON at most 50 MB), in "
                            "WGS-84, GCJ-02 or BD-09. 400 lists the problems by row and column "
                            "(error.problems: row, column, zh, en) and nothing is stored, unless "
                            "skip_bad_rows=1 (then they are skipped and counted)."),
                "requestBody": {"required": True, "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": {"type": "object", "required": ["file", "name"],
                                                       "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                        "crs": {"type": "string", "enum": CRS},
                        "skip_bad_rows": {"type": "string", "enum": ["0", "1", "true", "false"]},
                        "encoding": {"type": "string", "enum": ENCODINGS}}}}}}},
        },
        "/api/datasets/{dataset_id}": {
            "patch": _write("patch", "Rename a hotspot dataset (planner, admin)",
                            {"type": "object", "additionalProperties": False, "required": ["name"],
                             "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}}},
                            {**_ok(_ref("Dataset")), **_errors(400, 401, 403, 404, 409, 413,
                                                               e409="A dataset of this name exists.")},
                            tag="datasets", params=[did]),
            "delete": _write("delete", "Remove a hotspot dataset and its file (planner, admin)",
                             {"type": "object", "additionalProperties": False, "properties": {}},
                             {**_ok({"type": "object", "properties": {"deleted": INTEGER, "name": STRING}}),
                              **_errors(400, 401, 403, 404, 405, 413, e405="An id beyond 2147483647 matches no "
                                                                         "dataset route (405).")},
                             tag="datasets", params=[did],
                             body_required=False),
        },
        "/api/coverage/compare": {"get": _get(
            "Compare the coverage of two hotspot datasets (then and now)",
            [_q("before", {"type": "string", "pattern": "^[0-9]{1,10}$", "maxLength": 10},
                "The earlier dataset's id (GET /api/datasets).", required=True),
             _q("after", {"type": "string", "pattern": "^[0-9]{1,10}$", "maxLength": 10},
                "The later dataset's id (not the same as before).", required=True),
             P["metric"], P["group"], P["hour"], P["res"], P["threshold_m"], P["bbox"], P["out_crs"]],
            {**_ok({"type": "object", "required": ["headline", "districts", "cells", "new_zones"], "properties": {
                "before": {"type": "object"}, "after": {"type": "object"},
                "headline": {"type": "object", "description": "Covered share then and now (0-1), change_pp, "
                             "n_lost_coverage, n_new_uncovered_demand, n_gained_coverage, n_became_uncovered, "
                             "n_became_covered, n_new_zones, ..."},
                "districts": {"type": "array", "items": {"type": "object"}, "description": "Per district, city, "
                              "province and total: covered_share_before/_after, change_pp, ..."},
                "cells": fc, "new_zones": fc}}),
             **_errors(400, 401, 404, 409, 429, e400="Missing, malformed or equal dataset ids, or a bad parameter.",
                       e404="Unknown dataset.")},
            tag="datasets", security=True,
            description="Both analyses come from the cache (as GET /api/coverage/summary?dataset=ID). cells: the "
                        "changed hexagons (change: lost_coverage, new_uncovered_demand, gained_coverage, "
                        "demand_gone; change_zh), only those near bbox when given; new_zones: outlines of the "
                        "blind zones that share no cell with an earlier one.")},
        "/api/targets": {"get": _get(
            "Progress this year against the annual targets (ANNUAL_TARGETS) in an area",
            [_q("area", {"type": "string", "pattern": "^[0-9]{6}$"}, "6-digit adcode of the area.", required=True),
             P["dataset"]],
            {**_ok({"type": "object", "properties": {
                "year": {"type": "integer"}, "area": {"type": "string"}, "name": {"type": "string"},
                "new_stations": {"type": "array", "items": {"type": "object", "properties": {
                    "type": {"type": "string"}, "done": {"type": "integer"}, "target": {"type": "integer"},
                    "ratio": _nullable({"type": "number"}), "progress": _nullable({"type": "number"})}}},
                "covered_share": {"type": "array", "items": {"type": "object", "properties": {
                    "group": {"type": "string"}, "current": _nullable({"type": "number"}),
                    "target": {"type": "number"}, "ratio": _nullable({"type": "number"}),
                    "progress": _nullable({"type": "number"})}}}}}),
             **_errors(400, 401, 403, 404, 429, e403="The area is outside your scope.",
                       e404="Unknown area or dataset.")},
            tag="datasets", security=True,
            description="As in the report: stations created this year (registry history) in the area by type vs "
                        "new_stations; the covered share of each target group (its analysis of the dataset) vs "
                        "covered_share. progress = done / target, clipped to 0-1.")},
        "/api/report": {"get": _get(
            "Coverage report of a province, city or district (PDF or self-contained HTML)",
            [_q("area", {"type": "string", "pattern": "^[0-9]{6}$"}, "6-digit adcode of the area.", required=True),
             _q("format", {"type": "string", "enum": ["pdf", "html"], "default": "pdf"}, "File format."),
             P["dataset"], P["group"]],
            {"200": {"description": "The report (Content-Disposition: attachment)", "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "text/html": {"schema": {"type": "string"}}}},
             **_errors(400, 401, 403, 404, 429, 503, e403="The area is outside your scope (a district union: "
                                                          "only its own district).",
                       e404="Unknown area or dataset, or no hotspot data.",
                       e503="format=pdf and no Chromium on the server (download the HTML).")},
            tag="datasets", security=True,
            description="Built like `yizhan report --area ADCODE [--dataset ID] [--group G]`: key figures, the "
                        "map, charts and tables, in Chinese.")},
        "/api/proposals": {
            "get": _get("Proposals visible to the user",
                        [_q("status", {"type": "string", "enum": statuses}, "Only this status.")],
                        {**_ok({"type": "array", "items": _ref("Proposal")}), **_errors(400, 401)},
                        tag="proposals", security=True),
            "post": _post("Submit a proposed site (impact computed and stored)", _ref("ProposalInput"),
                          {**_ok(_ref("Proposal"), "Created", status="201"), **_errors(400, 401, 403, 413)},
                          tag="proposals"),
        },
        "/api/proposals/{pid}": {"get": _get("One proposal with its history", [pid],
                                             {**_ok(_ref("Proposal")), **_errors(401, 403, 404)},
                                             tag="proposals", security=True)},
        "/api/proposals/{pid}/review": {"post": _post(
            "Accept or reject a pending proposal (planner, admin)", _ref("ReviewInput"),
            {**_ok(_ref("Proposal")), **_errors(400, 401, 403, 404, 409, 413,
                                                 e409="The proposal was reviewed already.")},
            tag="proposals", params=[pid])},
        "/api/proposals/{pid}/build": {"post": _post(
            "Create the station (筹建中) of an accepted proposal (planner, admin)", None,
            {**_ok(_ref("Station"), "Created", status="201"),
             **_errors(400, 401, 403, 404, 409, 413, e409="The proposal is not accepted, or has its station already.")},
            tag="proposals", params=[pid],
            description="The body may be empty or an empty JSON object.")},
        "/api/stations/{station_id}": {
            "get": _get("One station (registry record, WGS-84)", [sid],
                        _with_etag({**_ok(_ref("RegistryStation")), **_errors(400, 404)}, "200"), tag="registry",
                        description="The ETag header is the station's version (raised by every change)."),
            "patch": _write("patch", "Change fields of a station, or place one waiting for a location (planner, "
                                     "admin within their area; district union: place its own district's waiting "
                                     "stations)",
                            _ref("StationPatch"),
                            _with_etag({**_ok(_ref("RegistryStation")), **_errors(400, 401, 403, 404, 409, 412, 413,
                                                                                    e409=CONFLICT)}, "200", "412"),
                            tag="registry", params=[sid, IF_MATCH], body_required=False,
                            description="Fields not sent are kept; no body (or {}) changes nothing. With If-Match "
                                        "only while the station is at that version (412 otherwise). A station "
                                        "waiting for a location (待定位) is placed with lon/lat (crs), or with "
                                        "accept_candidate: true; candidate: null rejects its geocoder's candidate. "
                                        "A district union may send only lon, lat, crs, note, accept_candidate and "
                                        "candidate, for a waiting station of its own district (403 otherwise); a "
                                        "waiting station of no known district only planners and admins."),
            "put": _write("put", "Replace a station's fields (planner, admin)", _ref("StationInput"),
                          _with_etag({**_ok(_ref("RegistryStation")), **_errors(400, 401, 403, 404, 409, 412, 413,
                                                                                  e409=CONFLICT)}, "200", "412"),
                          tag="registry", params=[sid, IF_MATCH],
                          description="With If-Match only while the station is at that version (412 otherwise)."),
            "delete": _write("delete", "Delete a station (kept in the history; undo restores it)",
                             {"type": "object", "additionalProperties": False,
                              "properties": {"note": _or_null({"type": "string", "maxLength": 500})}},
                             _with_etag({**_ok(_ref("DeleteResult")), **_errors(400, 401, 403, 404, 409, 412, 413,
                                                                                 e409=CONFLICT)}, "412"),
                             tag="registry", params=[sid, IF_MATCH], body_required=False,
                             description="With If-Match only while the station is at that version (412 otherwise)."),
        },
        "/api/stations/import": {"post": _write(
            "post", "Import a station file (CSV, XLSX, GeoJSON) — all or nothing (planner, admin)", None,
            {**_ok(_ref("ImportResult")), **_errors(400, 401, 403, 409, 413, 415, e409=CONFLICT)}, tag="registry",
            form={"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary"},
                "crs": {"type": "string", "enum": CRS}, "encoding": {"type": "string",
                                                                  "enum": ["auto", "utf-8", "utf-8-sig", "gbk",
                                                                           "gb18030", "utf-16"]},
                "skip_bad_rows": {"type": "string", "enum": ["0", "1", "true", "false"]},
                "dry_run": {"type": "string", "enum": ["0", "1", "true", "false"]}}},
            description="400 lists every problem by row and column (error.problems); a planner bound to a city "
                        "gets 403 when any row lies outside it. Nothing is written unless every row is valid "
                        "(or skip_bad_rows).")},
        "/api/history": {"get": _get(
            "The registry's change history, newest first (planner, admin)",
            [_q("station_id", {"type": "string", "maxLength": 64}, "Only this station."),
             _q("user", {"type": "string", "maxLength": 64}, "Only changes by this user."),
             _q("action", {"type": "string", "enum": ["create", "update", "delete", "undo"]}, "Only this action."),
             _q("batch", {"type": "string", "maxLength": 40}, "Only this import batch."),
             _q("before_id", {"type": "integer", "minimum": 1, "maximum": 2147483647},
                "Entries older than this id (next page)."),
             _q("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "Page size.")],
            {**_ok(_ref("HistoryPage")), **_errors(400, 401, 403)}, tag="registry", security=True)},
        "/api/history/{history_id}": {"get": _get(
            "One history entry (planner, admin)", [hid], {**_ok(_ref("HistoryEntry")), **_errors(401, 403, 404)},
            tag="registry", security=True)},
        "/api/history/{history_id}/undo": {"post": _write(
            "post", "Undo one change (planner, admin)", _ref("UndoInput"),
            {**_ok(_ref("UndoResult")), **_errors(400, 401, 403, 404, 409, 413, e409="The station changed after "
                                                                                  "this entry: undo the later "
                                                                                  "change first, or force.")},
            tag="registry", params=[hid], body_required=False)},
        "/api/history/batches/{batch}/undo": {"post": _write(
            "post", "Undo a whole import batch in one transaction (planner, admin)", _ref("UndoInput"),
            {**_ok(_ref("BatchUndoResult")), **_errors(400, 401, 403, 404, 409, 413, e409="A station of the batch "
                                                                                       "changed since.")},
            tag="registry", params=[batch], body_required=False)},
        "/api/users": {
            "get": _get("Accounts (admin)", [], {**_ok({"type": "array", "items": _ref("User")}),
                                                 **_errors(401, 403)}, tag="accounts", security=True),
            "post": _write("post", "Create an account (admin)", _ref("UserInput"),
                           {**_ok(_ref("User"), "Created", status="201"),
                            **_errors(400, 401, 403, 409, 413, e409="The username exists.")}, tag="accounts"),
        },
        "/api/users/{user_id}": {"patch": _write(
            "patch", "Change an account's role, area, password or active flag (admin)", _ref("UserPatch"),
            {**_ok(_ref("User")), **_errors(400, 401, 403, 404, 409, 413,
                                            e409="The last active admin, or your own account, cannot be "
                                                 "demoted or deactivated.")},
            tag="accounts", params=[uid], body_required=False)},
        "/openapi.json": {"get": _get("This document", [], _ok({"type": "object"}), tag="misc")},
    }


def _empty_means_default(doc: dict[str, Any]) -> dict[str, Any]:
    """An empty query value counts as absent (the default): every query enum admits "", and every
    numeric query parameter is ``anyOf`` its number schema or the empty string."""
    params = list(doc["components"]["parameters"].values())
    for item in doc["paths"].values():
        for op in item.values():
            params += [p for p in op.get("parameters", []) if "$ref" not in p]
    for p in params:
        if p.get("in") != "query" or p.get("required"):
            continue
        schema = p.get("schema", {})
        enum = schema.get("enum")
        if enum is not None and "" not in enum:
            enum.insert(0, "")
        if schema.get("type") in ("number", "integer"):
            p["schema"] = {"anyOf": [schema, {"type": "string", "enum": [""]}]}
    return doc


@functools.lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document (a fresh copy per call is not needed: treat as read-only)."""
    params = _parameters()
    params["csrf"] = {"name": "X-CSRF-Token", "in": "header", "required": True,
                      "description": "The session's CSRF token (GET /api/me).", "schema": {"type": "string"}}
    return _empty_means_default({
        "openapi": "3.0.3",
        "info": {"title": "驿站通 yizhan API", "version": "1.0",
                 "description": "Rest-station locator and coverage analyzer. Coordinates are WGS-84 unless "
                                "`crs`/`out_crs` say otherwise. Unknown query parameters are rejected (400). "
                                "Errors: {\"error\": {\"zh\", \"en\", \"field\", \"status\"}}."},
        "paths": _paths(),
        "components": {
            "parameters": params,
            "schemas": _schemas(),
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session",
                                            "description": "Flask session cookie set by POST /login"}},
        },
    })


@bp.route("/openapi.json")
def openapi_json():  # noqa: ANN201
    """The OpenAPI document."""
    return jsonify(copy.deepcopy(document()))
