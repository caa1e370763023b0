"""Polling a warnings feed: a CAP document itself, or an Atom feed (Meteoalarm style) linking to CAP entries."""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urljoin

from outreach.campaigns import CampaignSummary, ingest_cap, read_source
from outreach.cap import refuse_declarations
from telecare.errors import InvalidInput
from telecare.people import Resident, ResidentLookup
from telecare.store import Database

log = logging.getLogger(__name__)
ATOM = "{http://www.w3.org/2005/Atom}"
MAX_ENTRIES = 200  # one poll never fetches more than this many warnings


def cap_links(feed_url: str, data: bytes) -> list[str] | None:
    """CAP links of an Atom feed (absolute URLs), or None if the document is not an Atom feed."""
    refuse_declarations(data)
    root = ET.fromstring(data)
    if root.tag != f"{ATOM}feed":
        return None
    links = []
    for entry in root.findall(f"{ATOM}entry")[:MAX_ENTRIES]:
        for link in entry.findall(f"{ATOM}link"):
            kind, href = link.get("type", ""), link.get("href", "")
            if href and ("cap" in kind or href.endswith(".xml")):
                links.append(urljoin(feed_url, href))
                break
    return links


async def poll_feed(db: Database, residents: Sequence[Resident] | ResidentLookup, url: str, now: datetime,
                    by: str = "feed") -> list[CampaignSummary]:
    """Ingest every warning the feed lists; a bad entry is logged and skipped, the others still count."""
    data = await read_source(url)
    links = cap_links(url, data)
    if links is None:
        return [await ingest_cap(db, residents, data, now, by)]
    out = []
    for link in links:
        try:
            out.append(await ingest_cap(db, residents, await read_source(link), now, by))
        except InvalidInput as err:
            log.warning("feed entry skipped: %s", err)
    return out
