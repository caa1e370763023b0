"""Reading a Server-Sent Events response (the live alert and commissioning streams) as (event, data) frames."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any


async def sse_frames(response: Any) -> AsyncIterator[tuple[str, Any]]:
    """Yield (event, decoded JSON data) per frame of an httpx streaming response; frames without an event are skipped."""
    event, data = None, []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and event:
            yield event, json.loads("\n".join(data))
            event, data = None, []
