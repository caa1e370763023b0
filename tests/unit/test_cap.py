"""CAP 1.2 parsing on realistic samples, hostile and malformed files, and area selection."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from outreach.cap import MAX_BYTES, parse_cap
from outreach.geo import area_shapes, circle_shape, hazard, residents_inside
from telecare.errors import InvalidInput
from telecare.people import Resident

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "cap"
SAMPLE = ROOT / "outreach" / "samples" / "barcelona_heat_warning.xml"


def located(rid: str, lat: float, lon: float) -> Resident:
    return Resident(rid, "Name", latitude=lat, longitude=lon)


def test_barcelona_heat_sample_parses_every_field() -> None:
    alert = parse_cap(SAMPLE.read_bytes())
    assert alert.status == "Actual" and alert.msg_type == "Alert"
    assert alert.identifier.endswith("sample-bcn-heat-orange")
    assert alert.sent == datetime(2027, 7, 14, 6, tzinfo=timezone.utc)
    assert [i.language for i in alert.infos] == ["ca-ES", "es-ES", "en-GB"]
    info = alert.infos[0]
    assert (info.severity, info.urgency, info.certainty) == ("Severe", "Future", "Likely")
    assert info.onset is not None and info.onset.utcoffset() == timedelta(hours=2)
    assert info.expires is not None and info.expires > info.onset
    assert "38" in info.description and info.instruction.startswith("Beveu")
    assert ("awareness_type", "3; high-temperature") in info.parameters
    area = info.areas[0]
    assert len(area.polygons[0]) == 8 and area.polygons[0][0] == (41.300, 2.060)
    assert area.geocodes == (("INE", "08019"),)
    assert hazard(alert.infos) == "heat"


def test_polygon_selects_residents_inside_only() -> None:
    alert = parse_cap(SAMPLE.read_bytes())
    residents = [located("eixample", 41.3888, 2.1590), located("badalona", 41.4500, 2.2470),
                 located("girona", 41.9794, 2.8214), located("lleida", 41.6176, 0.6200),
                 Resident("nowhere", "Name")]
    inside = residents_inside(residents, area_shapes(alert.infos[0].areas))
    assert [r.id for r in inside] == ["eixample", "badalona"]


def test_circle_is_measured_in_km_at_that_latitude() -> None:
    alert = parse_cap((DATA / "circle_cold.xml").read_bytes())
    (lat, lon, radius), = alert.areas[0].circles
    assert (lat, lon, radius) == (41.930, 2.255, 15.0)
    assert hazard(alert.infos) == "cold"
    # 0.12 degrees of latitude is ~13.4 km (inside); 0.15 degrees is ~16.7 km (outside).
    # 0.17 degrees of longitude at 41.9 N is ~14.1 km (inside); 0.19 is ~15.7 km (outside).
    residents = [located("n_in", lat + 0.12, lon), located("n_out", lat + 0.15, lon),
                 located("e_in", lat, lon + 0.17), located("e_out", lat, lon + 0.19)]
    assert [r.id for r in residents_inside(residents, area_shapes(alert.areas))] == ["n_in", "e_in"]
    assert circle_shape(lat, lon, radius).contains(circle_shape(lat, lon, radius - 1))


def test_geocode_only_area_uses_the_shipped_table() -> None:
    alert = parse_cap((DATA / "geocode_only.xml").read_bytes())
    assert alert.areas[0].polygons == () and alert.areas[0].geocodes == (("NUTS3", "ES511"),)
    residents = [located("bcn", 41.3888, 2.1590), located("manresa", 41.7250, 1.8266),
                 located("girona", 41.9794, 2.8214), located("tarragona", 41.1189, 1.2445)]
    assert [r.id for r in residents_inside(residents, area_shapes(alert.areas))] == ["bcn", "manresa"]


def test_cancel_message_carries_the_referenced_identifier() -> None:
    alert = parse_cap((DATA / "cancel.xml").read_bytes())
    assert alert.msg_type == "Cancel" and alert.references == ("test-heat-province-geocode-002",)
    assert alert.infos == ()


@pytest.mark.parametrize("name,message", [
    ("xml_bomb.xml", "DTD or entity declaration"),
    ("xxe.xml", "DTD or entity declaration"),
    ("bad_namespace.xml", "not a CAP 1.2 alert"),
    ("missing_identifier.xml", "missing required <identifier>"),
    ("bad_severity.xml", "<severity> has an unknown value 'Catastrophic'"),
    ("open_polygon.xml", "needs at least 4 points"),
    ("garbage_polygon.xml", "is not a 'lat,lon' pair"),
    ("naive_onset.xml", "<onset> has no time zone offset"),
    ("truncated.xml", "not well-formed XML"),
])
def test_malformed_files_are_refused_with_a_clear_message(name: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_cap((DATA / name).read_bytes())


@pytest.mark.parametrize("name,message", [
    ("bowtie_polygon.xml", "not a valid polygon"),
    ("unknown_geocode.xml", "no supported geocode"),
])
def test_unusable_areas_are_refused(name: str, message: str) -> None:
    alert = parse_cap((DATA / name).read_bytes())
    with pytest.raises(InvalidInput, match=message):
        area_shapes(alert.areas)


@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"not xml at all", "not well-formed"),
    (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'/>", "missing required <identifier>"),
    (b"x" * (MAX_BYTES + 1), "larger than"),
])
def test_degenerate_inputs(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_cap(data)


def test_alert_without_area_is_refused() -> None:
    stripped = re.sub(r"<area>.*?</area>", "", SAMPLE.read_text(), flags=re.S)
    with pytest.raises(InvalidInput, match="no <area>"):
        parse_cap(stripped.encode())


def test_atom_feed_links_are_resolved_and_non_feeds_recognised() -> None:
    from outreach.cap_feed import cap_links

    feed = b"""<feed xmlns="http://www.w3.org/2005/Atom">
      <entry><link rel="alternate" type="text/html" href="/page"/>
             <link type="application/cap+xml" href="a.xml"/></entry>
      <entry><link href="https://other.example/b.xml"/></entry><entry><link href="/no-cap"/></entry></feed>"""
    assert cap_links("https://feeds.example/es/rss", feed) == ["https://feeds.example/es/a.xml",
                                                               "https://other.example/b.xml"]
    assert cap_links("https://x.example/", SAMPLE.read_bytes()) is None
    with pytest.raises(InvalidInput, match="DTD"):
        cap_links("https://x.example/", (DATA / "xml_bomb.xml").read_bytes())


def test_shape_and_point_limits_are_refused_before_any_geometry() -> None:
    from outreach.cap import MAX_AREAS, MAX_POLYGON_POINTS, parse_polygon

    ring = " ".join(["1,1"] * (MAX_POLYGON_POINTS + 1))
    with pytest.raises(InvalidInput, match=f"at most {MAX_POLYGON_POINTS}"):
        parse_polygon(ring)
    areas = "".join("<area><areaDesc>x</areaDesc><circle>41.3,2.1 1</circle></area>" for _ in range(MAX_AREAS + 1))
    doc = (f"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>i</identifier><info>{areas}</info>"
           "</alert>").encode()
    with pytest.raises(InvalidInput, match=f"too many <area>s: at most {MAX_AREAS} are accepted"):
        parse_cap(doc)
