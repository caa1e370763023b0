"""The live-load publisher of `bench/ingest.py`, in its own process so its CPU is not the pipeline's.

`python -m bench.live_publisher URL RATE SECONDS HOMES [PRESS_EVERY]`: steady telemetry from the drain mix at
RATE msgs/s for SECONDS, a help press on a distinct home every PRESS_EVERY messages; prints one JSON object:
{"sent": {resident_id: epoch seconds of the press}, "published": n, "seconds": elapsed}.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid

from bench.ingest import _drain_message, _payload
from demo.fleet import device_id, resident_id
from ingest.topics import device_topic
from telecare.events import DeviceType
from telecare.mqtt import MqttPublisher


async def publish_live(url: str, rate: float, seconds: float, homes: int, press_every: int = 100) -> dict:
    """Publish the live load; the press times are wall-clock (time.time) for another process to compare."""
    pub = MqttPublisher(url, f"bench-live-{uuid.uuid4().hex[:6]}")
    await pub.connect()
    sent: dict[str, float] = {}
    total, presses = int(rate * seconds), 0
    started = time.perf_counter()
    for i in range(total):
        if i % press_every == 0 and presses < homes // 2:
            home = homes // 2 - presses  # the latency phase pressed the top half of the homes
            presses += 1
            sent[resident_id(home)] = time.time()
            pub.publish_nowait(device_topic(device_id(DeviceType.GATEWAY, home),
                                            device_id(DeviceType.PENDANT, home), "help_button"), _payload(f"p{i}"))
        else:
            pub.publish_nowait(_drain_message(i, homes)[0], _payload(f"l{i}"))
        ahead = started + (i + 1) / rate - time.perf_counter()
        if ahead > 0.005 or i % 200 == 199:
            await asyncio.sleep(max(ahead, 0))
    await pub.wait_all_published(60)
    elapsed = time.perf_counter() - started
    await pub.disconnect()
    return {"sent": sent, "published": total, "seconds": elapsed}


if __name__ == "__main__":
    url, rate, seconds, homes = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    every = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    print(json.dumps(asyncio.run(publish_live(url, rate, seconds, homes, every))))
