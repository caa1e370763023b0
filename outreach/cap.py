"""CAP 1.2 (Common Alerting Protocol) parsing into frozen dataclasses; hostile or malformed XML is refused."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import xml.parsers.expat
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from telecare.errors import InvalidInput

NS = "urn:oasis:names:tc:emergency:cap:1.2"
# Bounds on what one document may make us do (parsing and geometry are CPU work): real warnings carry a
# handful of areas with a few polygons or geocodes each, polygons of at most a few thousand points.
MAX_BYTES = 2_000_000
MAX_INFOS = 20
MAX_AREAS = 200
MAX_SHAPES = 2_000  # polygons + circles in the whole alert
MAX_GEOCODES = 2_000
MAX_POLYGON_POINTS = 20_000
STATUSES = {"Actual", "Exercise", "System", "Test", "Draft"}
MSG_TYPES = {"Alert", "Update", "Cancel", "Ack", "Error"}
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")  # most severe first
URGENCIES = {"Immediate", "Expected", "Future", "Past", "Unknown"}
CERTAINTIES = {"Observed", "Likely", "Possible", "Unlikely", "Unknown", "Very Likely"}


@dataclass(frozen=True, slots=True)
class CapArea:
    """One <area>: polygons as ((lat, lon), …), circles as (lat, lon, radius_km), geocodes as (name, value)."""

    area_desc: str
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    circles: tuple[tuple[float, float, float], ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CapInfo:
    """One <info> block (one per language in a multilingual alert)."""

    language: str
    event: str
    severity: str
    urgency: str
    certainty: str
    onset: datetime | None
    expires: datetime | None
    headline: str
    description: str
    instruction: str
    parameters: tuple[tuple[str, str], ...]
    areas: tuple[CapArea, ...]


@dataclass(frozen=True, slots=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    references: tuple[str, ...]  # identifiers of earlier alerts this one updates or cancels
    infos: tuple[CapInfo, ...]

    @property
    def areas(self) -> tuple[CapArea, ...]:
        return tuple(a for info in self.infos for a in info.areas)


CHUNK = 65_536  # the parsers get the document in slices so the GIL is free between them (parsing runs in a thread)


def refuse_declarations(data: bytes, limits: bool = False) -> None:
    """DTDs and entities are never needed in CAP and are how XML bombs and XXE work: refuse them.

    With `limits`, also stop at the first element past a MAX_* bound, before the rest is even read.
    """
    parser = xml.parsers.expat.ParserCreate()

    def refuse(*_args: object) -> None:
        raise InvalidInput("CAP document contains a DTD or entity declaration, which is not allowed")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    if limits:
        parser.StartElementHandler = _element_counter()
    try:
        for start in range(0, len(data), CHUNK):
            parser.Parse(data[start:start + CHUNK], False)
        parser.Parse(b"", True)
    except xml.parsers.expat.ExpatError as err:
        raise InvalidInput(f"CAP document is not well-formed XML: {err}") from err


_LIMITED = {"info": ("<info> blocks", MAX_INFOS), "area": ("<area>s", MAX_AREAS),
            "polygon": ("polygons and circles", MAX_SHAPES), "circle": ("polygons and circles", MAX_SHAPES),
            "geocode": ("geocodes", MAX_GEOCODES)}


def _element_counter():
    counts: dict[str, int] = {}

    def start(name: str, _attrs: object) -> None:
        what = _LIMITED.get(name.rpartition(":")[2])
        if what is not None:
            label, limit = what
            counts[label] = counts.get(label, 0) + 1
            if counts[label] > limit:
                raise InvalidInput(f"CAP document has too many {label}: at most {limit} are accepted")
    return start


def _text(el: ET.Element, tag: str, where: str, required: bool = False) -> str:
    child = el.find(f"{{{NS}}}{tag}")
    value = (child.text or "").strip() if child is not None else ""
    if required and not value:
        raise InvalidInput(f"CAP {where} is missing required <{tag}>")
    return value


def _time(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise InvalidInput(f"CAP <{field}> is not a date-time: {value[:40]!r}") from err
    if parsed.tzinfo is None:
        raise InvalidInput(f"CAP <{field}> has no time zone offset: {value[:40]!r}")
    return parsed


def _choice(value: str, allowed: set[str] | tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"CAP <{field}> has an unknown value {value[:30]!r} (expected one of {sorted(allowed)})")
    return value


def _point(pair: str, where: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = pair.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError as err:
        raise InvalidInput(f"CAP {where}: {pair[:40]!r} is not a 'lat,lon' pair") from err
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(f"CAP {where}: coordinates {pair[:40]!r} are out of range")
    return lat, lon


def parse_polygon(text: str) -> tuple[tuple[float, float], ...]:
    """'lat,lon lat,lon …' with at least four pairs, first equal to last (CAP 1.2 §3.3.2)."""
    pairs = text.split()
    if len(pairs) > MAX_POLYGON_POINTS:
        raise InvalidInput(f"CAP <polygon> has {len(pairs)} points; at most {MAX_POLYGON_POINTS} are accepted")
    points = tuple(_point(p, "<polygon>") for p in pairs)
    if len(points) < 4:
        raise InvalidInput(f"CAP <polygon> needs at least 4 points, got {len(points)}")
    if points[0] != points[-1]:
        raise InvalidInput("CAP <polygon> is not closed: the first and last points differ")
    return points


def parse_circle(text: str) -> tuple[float, float, float]:
    """'lat,lon radius_km'."""
    parts = text.split()
    if len(parts) != 2:
        raise InvalidInput(f"CAP <circle> must be 'lat,lon radius', got {text[:40]!r}")
    lat, lon = _point(parts[0], "<circle>")
    try:
        radius = float(parts[1])
    except ValueError as err:
        raise InvalidInput(f"CAP <circle> radius {parts[1][:20]!r} is not a number") from err
    if not 0 < radius <= 2000:
        raise InvalidInput(f"CAP <circle> radius {radius} km is out of range")
    return lat, lon, radius


def _area(el: ET.Element) -> CapArea:
    desc = _text(el, "areaDesc", "<area>", required=True)
    polygons = tuple(parse_polygon(p.text or "") for p in el.findall(f"{{{NS}}}polygon"))
    circles = tuple(parse_circle(c.text or "") for c in el.findall(f"{{{NS}}}circle"))
    geocodes = tuple((_text(g, "valueName", "<geocode>", True), _text(g, "value", "<geocode>", True))
                     for g in el.findall(f"{{{NS}}}geocode"))
    return CapArea(desc, polygons, circles, geocodes)


def _info(el: ET.Element) -> CapInfo:
    return CapInfo(
        language=_text(el, "language", "<info>") or "en-US",
        event=_text(el, "event", "<info>", required=True),
        severity=_choice(_text(el, "severity", "<info>", True), SEVERITIES, "severity"),
        urgency=_choice(_text(el, "urgency", "<info>", True), URGENCIES, "urgency"),
        certainty=_choice(_text(el, "certainty", "<info>", True), CERTAINTIES, "certainty"),
        onset=_time(_text(el, "onset", "<info>"), "onset"),
        expires=_time(_text(el, "expires", "<info>"), "expires"),
        headline=_text(el, "headline", "<info>"),
        description=_text(el, "description", "<info>"),
        instruction=_text(el, "instruction", "<info>"),
        parameters=tuple((_text(p, "valueName", "<parameter>"), _text(p, "value", "<parameter>"))
                         for p in el.findall(f"{{{NS}}}parameter")),
        areas=tuple(_area(a) for a in el.findall(f"{{{NS}}}area")),
    )


def parse_cap(data: bytes) -> CapAlert:
    """Parse a CAP 1.2 <alert>; raise InvalidInput with a clear message for anything malformed."""
    if not data or not data.strip():
        raise InvalidInput("CAP document is empty")
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"CAP document is larger than {MAX_BYTES} bytes")
    refuse_declarations(data, limits=True)
    tree = ET.XMLParser()
    for start in range(0, len(data), CHUNK):
        tree.feed(data[start:start + CHUNK])
    root = tree.close()
    if root.tag != f"{{{NS}}}alert":
        raise InvalidInput(f"not a CAP 1.2 alert: root element is {root.tag[:80]!r}, expected <alert> in {NS}")
    alert = CapAlert(
        identifier=_text(root, "identifier", "<alert>", True),
        sender=_text(root, "sender", "<alert>", True),
        sent=_time(_text(root, "sent", "<alert>", True), "sent"),  # type: ignore[arg-type]
        status=_choice(_text(root, "status", "<alert>", True), STATUSES, "status"),
        msg_type=_choice(_text(root, "msgType", "<alert>", True), MSG_TYPES, "msgType"),
        references=tuple(ref.split(",")[1] if ref.count(",") == 2 else ref
                         for ref in _text(root, "references", "<alert>").split()),
        infos=tuple(_info(i) for i in root.findall(f"{{{NS}}}info")),
    )
    if alert.msg_type in ("Alert", "Update") and not alert.infos:
        raise InvalidInput("CAP alert has no <info> block")
    if alert.msg_type in ("Alert", "Update") and not alert.areas:
        raise InvalidInput("CAP alert has no <area>: cannot tell who is affected")
    return alert


def expired_at(alert: CapAlert, now: datetime) -> datetime | None:
    """When a warning (not a Cancel) ended if that is at or before `now`, else None (pure)."""
    expiries = [i.expires for i in alert.infos if i.expires is not None]
    if alert.msg_type == "Cancel" or not expiries or max(expiries) > now:
        return None
    return max(expiries)


_SAMPLE_TIMES = re.compile(rb"<(sent|onset|expires)>([^<]+)</\1>")


def sample_warning(now: datetime) -> bytes:
    """The bundled Barcelona heat warning with its dates moved so it was sent `now` (valid for two days).

    Its identifier gets the day, so the sample can be tried once a day without colliding with earlier runs.
    """
    data = (resources.files("outreach") / "samples" / "barcelona_heat_warning.xml").read_bytes()
    sent = datetime.fromisoformat(_SAMPLE_TIMES.search(data).group(2).decode())  # type: ignore[union-attr]
    shift = now - sent

    def moved(match: re.Match[bytes]) -> bytes:
        at = (datetime.fromisoformat(match.group(2).decode()) + shift).replace(microsecond=0)
        return b"<%s>%s</%s>" % (match.group(1), at.isoformat().encode(), match.group(1))

    day = now.strftime("%Y%m%d").encode()
    data = data.replace(b"sample-bcn-heat-orange</identifier>", b"sample-bcn-heat-orange-" + day + b"</identifier>")
    return _SAMPLE_TIMES.sub(moved, data)
