"""Reading GeoJSON input safely: one place that turns untrusted features into checked values.

Both the area import and the department-layer import use it, so every bad input gets the same
clear message naming the feature, and nothing malformed reaches the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from liandong.areas import crs as crsmod
from liandong.areas.geometry import polygonal_problem
from liandong.errors import Invalid

MAX_INT = 2**31 - 1


def _no_constants(value: str):
    raise ValueError(f"{value} is not allowed in JSON")


def parse(raw: bytes | str | dict) -> dict:
    """A FeatureCollection dict (a lone Feature is wrapped); NaN and Infinity are refused."""
    if isinstance(raw, dict):
        try:
            json.dumps(raw, allow_nan=False)
        except ValueError as exc:
            raise Invalid("NaN and Infinity are not allowed in GeoJSON") from exc
        data = raw
    else:
        try:
            data = json.loads(raw, parse_constant=_no_constants)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Invalid(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("type") not in ("FeatureCollection", "Feature"):
        raise Invalid("expected a GeoJSON FeatureCollection")
    if data["type"] == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    if not isinstance(data.get("features"), list):
        raise Invalid("the FeatureCollection has no 'features' list")
    return data


def declared_crs(data: dict, override: str | None = None) -> str:
    """The CRS to read coordinates in: ``override``, else the (2008-style) ``crs`` member, else WGS84."""
    name = override
    if name is None:
        member = data.get("crs")
        if isinstance(member, dict):
            props = member.get("properties")
            name = props.get("name") if isinstance(props, dict) else None
            if name is None:
                raise Invalid("the 'crs' member must look like {\"properties\": {\"name\": \"GCJ-02\"}}")
        elif isinstance(member, str):
            name = member
        elif member is not None:
            raise Invalid("the 'crs' member must be an object or a name")
    try:
        return crsmod.normalise_crs(name)
    except crsmod.CRSError as exc:
        raise Invalid(str(exc)) from exc


@dataclass
class Feature:
    index: int
    label: str
    code: str
    name: str
    props: dict
    geom: BaseGeometry | None
    problems: list[str] = field(default_factory=list)


def text(props: dict, key: str, problems: list[str], *, max_len: int, required: bool = False) -> str | None:
    """A string property (numbers accepted and turned into text), length-checked."""
    value = props.get(key)
    if value is None or value == "":
        if required:
            problems.append(f"has no '{key}'")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append(f"'{key}' must be text")
        return None
    value = str(value).strip()
    if len(value) > max_len:
        problems.append(f"'{key}' is longer than {max_len} characters")
    if "\x00" in value:
        problems.append(f"'{key}' contains a NUL character")
    return value


def count(props: dict, key: str, problems: list[str]) -> int | None:
    value = props.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        problems.append(f"'{key}' must be a whole number from 0 to {MAX_INT}")
        return None
    return value


def features(data: dict, crs_name: str, *, code_len: int, name_len: int = 200, name_required: bool = True,
             geometry_optional: bool = False) -> Iterator[Feature]:
    """Each feature with its code, name and WGS84 geometry read and checked; problems listed, not raised."""
    seen: dict[str, int] = {}
    for i, feat in enumerate(data["features"], start=1):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            yield Feature(i, f"feature #{i}", "", "", {}, None, ["not a GeoJSON Feature"])
            continue
        props = feat.get("properties")
        if props is None:
            props = {}
        if not isinstance(props, dict):
            yield Feature(i, f"feature #{i}", "", "", {}, None, ["'properties' must be an object"])
            continue
        problems: list[str] = []
        if "code" not in props and feat.get("id") is not None:
            props = {**props, "code": feat["id"]}
        code = text(props, "code", problems, max_len=code_len, required=True) or ""
        label = f"feature #{i} (code {code})" if code else f"feature #{i}"
        name = text(props, "name", problems, max_len=name_len, required=name_required) or code
        if code in seen:
            problems.append(f"duplicate code (also feature #{seen[code]})")
        elif code:
            seen[code] = i
        geom = None
        raw_geom = feat.get("geometry")
        if raw_geom is None and geometry_optional:
            pass
        else:
            try:
                geom = shape(raw_geom) if raw_geom else None
            except Exception as exc:  # shapely raises several types for malformed GeoJSON
                problems.append(f"geometry cannot be read ({exc})")
            else:
                why = polygonal_problem(geom)
                if why:
                    problems.append(why)
                    geom = None
                else:
                    geom = crsmod.transform_geometry(geom, crs_name)
        yield Feature(i, label, code, name, props, geom, problems)
