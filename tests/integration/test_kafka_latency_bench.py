"""`telecare bench kafka-latency` end to end at a tiny size: the parts as processes, every help press on the stream."""
from __future__ import annotations

from bench.kafka_latency import run_kafka_latency_bench


async def test_the_kafka_latency_bench_sees_every_press_on_the_live_stream(kafka_bootstrap, mqtt_url, pg_server_url,
                                                                            monkeypatch):
    monkeypatch.setenv("TELECARE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("TELECARE_MQTT_URL", mqtt_url)
    monkeypatch.setenv("TELECARE_DATABASE_URL", pg_server_url)  # a scratch database on the test server
    result = await run_kafka_latency_bench(500, homes=200, live_seconds=3, press_rate=5, rate=100)
    print(result)
    drain, live = result["drain"], result["live"]
    assert drain["events"] == 500 and drain["store_events_per_s"] > 0 and drain["path_events_per_s"] > 0
    assert live["presses"] >= 10 and live["rate_per_s"] == 100
    assert live["arrived_on_stream"] == live["arrived_on_topic"] == live["presses"]
    for key in ("publish_to_stream_ms", "publish_to_alerts_topic_ms"):
        ms = live[key]
        assert 0 < ms["p50"] <= ms["p95"] <= ms["p99"] <= ms["max"], (key, ms)
    assert live["meets_target"] == (live["publish_to_stream_ms"]["p99"] <= live["target_p99_ms"])
    assert result["exits"] == {part: 0 for part in result["parts"]}, result["exits"]
