"""Who lives inside a warning area: CAP polygons, circles and known geocodes as shapely geometry (lon, lat)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from outreach.cap import CapArea, CapInfo
from telecare.errors import InvalidInput
from telecare.people import Resident, RiskFlag

KM_PER_DEGREE_LAT = 111.32

# Geocodes we can resolve to a shape. Deliberately small and COARSE (a dozen vertices each, enough to
# tell Barcelona from Girona, not street-exact): a warning that only names an unknown geocode is refused
# with a clear message instead of silently calling nobody. Keys are (valueName upper-cased, value).
_BARCELONA_CITY = ((41.320, 2.105), (41.345, 2.170), (41.376, 2.195), (41.410, 2.226), (41.447, 2.232),
                   (41.468, 2.182), (41.450, 2.125), (41.420, 2.095), (41.390, 2.075), (41.352, 2.080),
                   (41.320, 2.105))
_BARCELONA_PROVINCE = ((41.195, 1.640), (41.275, 2.030), (41.390, 2.230), (41.560, 2.520), (41.680, 2.790),
                       (41.860, 2.560), (42.080, 2.330), (42.320, 2.060), (42.320, 1.740), (41.960, 1.380),
                       (41.590, 1.360), (41.350, 1.500), (41.195, 1.640))
GEOCODES: dict[tuple[str, str], tuple[tuple[float, float], ...]] = {
    ("INE", "08019"): _BARCELONA_CITY,            # INE municipality code: Barcelona
    ("NUTS3", "ES511"): _BARCELONA_PROVINCE,      # Eurostat NUTS 3: Barcelona province
    ("EMMA_ID", "ES511"): _BARCELONA_PROVINCE,    # demo mapping; real EMMA_IDs depend on the provider
}

HAZARD_WORDS = {
    "heat": ("heat", "high-temperature", "high temperature", "calor", "altas temperaturas", "temperatures altes",
             "temperatures màximes", "canicule"),
    "cold": ("cold", "low-temperature", "low temperature", "frío", "fred", "bajas temperaturas", "snow-ice",
             "temperatures baixes", "grand froid"),
}
HAZARD_FLAG = {"heat": RiskFlag.HEAT_VULNERABLE, "cold": RiskFlag.COLD_VULNERABLE}
HAZARD_WEIGHT = 40  # on top of planning's risk weights: the vulnerable-to-this-hazard go first


def hazard(infos: Sequence[CapInfo]) -> str | None:
    """'heat', 'cold' or None, from the event names and Meteoalarm's awareness_type parameter."""
    text = " ".join([i.event for i in infos] + [v for i in infos for n, v in i.parameters
                                                if n.lower() == "awareness_type"]).lower()
    for name, words in HAZARD_WORDS.items():
        if any(w in text for w in words):
            return name
    return None


def _lonlat_polygon(points: Sequence[tuple[float, float]], what: str) -> Polygon:
    shape = Polygon([(lon, lat) for lat, lon in points])
    if not shape.is_valid or shape.area == 0:
        raise InvalidInput(f"{what} is not a valid polygon ({shapely.is_valid_reason(shape)})")
    return shape


def circle_shape(lat: float, lon: float, radius_km: float) -> BaseGeometry:
    """A circle on the ground as an ellipse in degrees (good to well under 1 % at these sizes)."""
    dlat = radius_km / KM_PER_DEGREE_LAT
    dlon = radius_km / (KM_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 0.01))
    return affinity.scale(Point(lon, lat).buffer(1.0, quad_segs=32), dlon, dlat, origin=(lon, lat))


def area_shapes(areas: Sequence[CapArea]) -> list[BaseGeometry]:
    """Every polygon, circle and known geocode of the areas; InvalidInput if an area has no usable shape."""
    shapes: list[BaseGeometry] = []
    for area in areas:
        found = [_lonlat_polygon(p, "CAP <polygon>") for p in area.polygons]
        found += [circle_shape(*c) for c in area.circles]
        found += [_lonlat_polygon(GEOCODES[(n.upper(), v)], f"geocode {n}={v}")
                  for n, v in area.geocodes if (n.upper(), v) in GEOCODES]
        if not found:
            codes = ", ".join(f"{n}={v}" for n, v in area.geocodes)[:120] or "none"
            raise InvalidInput(f"CAP area {area.area_desc[:60]!r} has no polygon or circle and no supported "
                               f"geocode (got: {codes}; supported: "
                               f"{', '.join(f'{n}={v}' for n, v in GEOCODES)})")
        shapes.extend(found)
    return shapes


def residents_inside(residents: Sequence[Resident], shapes: Sequence[BaseGeometry]) -> list[Resident]:
    """Residents whose home coordinates fall inside (or on the edge of) any shape."""
    located = [r for r in residents if r.latitude is not None and r.longitude is not None]
    if not located or not shapes:
        return []
    xs = np.fromiter((r.longitude for r in located), float, len(located))
    ys = np.fromiter((r.latitude for r in located), float, len(located))
    hit = np.zeros(len(located), dtype=bool)
    for shape in shapes:
        shapely.prepare(shape)
        hit |= shapely.intersects_xy(shape, xs, ys)
    return [r for r, inside in zip(located, hit) if inside]
