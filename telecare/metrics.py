"""Every Prometheus metric the platform exports, declared in one place."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

INGEST_MESSAGES = Counter(
    "telecare_ingest_messages", "MQTT messages handled by ingest", ["result"], registry=REGISTRY
)  # exported as telecare_ingest_messages_total{result="accepted|rejected|duplicate"}
INGEST_REJECTIONS = Counter(
    "telecare_ingest_rejections", "Rejected MQTT messages by reason code", ["reason"], registry=REGISTRY
)
INGEST_BATCH_SECONDS = Histogram(
    "telecare_ingest_batch_seconds", "Time to store one ingest batch", registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EVENTS_PROCESSED = Counter(
    "telecare_rules_events", "Events evaluated by the rule engine", ["type"], registry=REGISTRY
)
RULE_TIMERS_FIRED = Counter(
    "telecare_rules_timers_fired", "Rule timers that fired", ["rule"], registry=REGISTRY
)
ALERTS_RAISED = Counter(
    "telecare_alerts_raised", "New alerts opened", ["type", "severity"], registry=REGISTRY
)
ALERTS_ATTACHED = Counter(
    "telecare_alerts_attached", "Triggers attached to an already active alert", ["type"], registry=REGISTRY
)
ALERT_ACK_SECONDS = Histogram(
    "telecare_alert_ack_seconds", "Time from raise to acknowledge", ["severity"], registry=REGISTRY,
    buckets=(5, 15, 30, 45, 60, 90, 120, 180, 300, 600),
)
ACTIVE_ALERTS = Gauge(
    "telecare_active_alerts", "Alerts open or acknowledged", ["severity"], registry=REGISTRY
)
LIVE_CLIENTS = Gauge("telecare_live_clients", "Browsers connected to the live stream", registry=REGISTRY)
BUS_PENDING = Gauge("telecare_bus_pending", "Messages waiting in the in-process bus's queues, all groups",
                    ["topic"], registry=REGISTRY)
HTTP_ERRORS = Counter(
    "telecare_http_client_errors", "Rejected API requests", ["status"], registry=REGISTRY
)
PERSONAL_DATA_READS = Counter(
    "telecare_personal_data_reads", "Audited reads of personal data", ["action"], registry=REGISTRY
)
# Telephony adapters (simulator / Twilio) and their webhooks
TELEPHONY_CALLS = Counter(
    "telecare_telephony_calls", "Outbound call requests by provider and result", ["provider", "result"],
    registry=REGISTRY,
)  # result="placed|rejected|error"
TELEPHONY_UPDATES = Counter(
    "telecare_telephony_updates", "Call updates delivered to the calling flow", ["provider", "status"],
    registry=REGISTRY,
)
TELEPHONY_HANDLER_ERRORS = Counter(
    "telecare_telephony_handler_errors", "Call updates whose handler raised", ["provider"], registry=REGISTRY
)
TELEPHONY_WEBHOOKS = Counter(
    "telecare_telephony_webhooks", "Twilio webhook requests", ["endpoint", "result"], registry=REGISTRY
)  # result="accepted|forbidden|invalid"
LIVE_DROPPED = Counter(
    "telecare_live_dropped", "Live-stream browsers told to reload, or changes skipped", ["reason"], registry=REGISTRY
)  # reason="slow|shutdown|bad_message"
# Calling flow (dialer, human calls, escalation)
OUTREACH_CALLS = Counter(
    "telecare_outreach_calls", "Call attempts started by the calling flow", ["purpose", "mode"], registry=REGISTRY
)
OUTREACH_OUTCOMES = Counter(
    "telecare_outreach_outcomes", "Call attempts closed, by outcome", ["purpose", "outcome"], registry=REGISTRY
)
OUTREACH_BAD_UPDATES = Counter(
    "telecare_outreach_bad_updates", "Call updates or requests the calling flow could not use", ["reason"],
    registry=REGISTRY,
)
OUTREACH_ACTIVE_CALLS = Gauge(
    "telecare_outreach_active_calls", "Automated calls in progress in this process", registry=REGISTRY
)
ESCALATION_STEPS = Counter(
    "telecare_escalation_steps", "Alert escalation steps taken", ["step"], registry=REGISTRY
)  # step="second_tier|call_key_holder|accepted|exhausted|repeat|stopped|rearmed"
ESCALATIONS_EXHAUSTED = Counter(
    "telecare_escalations_exhausted", "Escalation rounds that ended with nobody reached", registry=REGISTRY
)  # exported as telecare_escalations_exhausted_total; each repeated round that fails counts again
ALERTS_CLEARED = Counter(
    "telecare_alerts_cleared", "Technical alerts closed because their condition ended", ["type"], registry=REGISTRY
)
RULES_ERRORS = Counter(
    "telecare_rules_errors", "Events, ticks or writes the rule runner could not handle", ["reason"],
    registry=REGISTRY,
)  # reason="unknown_resident|bad_message|registry|evaluate|alert_store|state_store|tick|internal_error"
INGEST_INTERNAL_ERRORS = Counter(
    "telecare_ingest_internal_errors", "Messages or batches whose processing raised (a bug, not bad input)",
    ["stage"], registry=REGISTRY,
)  # stage="lookup|normalize|store|dead_letter|publish"; dead-lettered ones also count as internal_error:<Type>
INGEST_STORE_RETRIES = Counter(
    "telecare_ingest_store_retries", "Ingest batches that failed to store and were retried", registry=REGISTRY
)
# The Kafka path (docs/kafka.md): the store writer and the alerts part.
STORE_WRITER_EVENTS = Counter(
    "telecare_store_writer_events", "Events the store writer consumed from Kafka", ["result"], registry=REGISTRY
)  # result="stored|duplicate|unstorable"
ALERT_VERDICTS = Counter(
    "telecare_alert_verdicts", "Verdicts the alerts part consumed from alert-triggers", ["result"], registry=REGISTRY
)  # result="applied|replayed|refused"
KAFKA_PART_RETRIES = Counter(
    "telecare_kafka_part_retries", "Batches or verdicts retried because PostgreSQL or Kafka failed", ["part"],
    registry=REGISTRY,
)
OUTREACH_TASKS_CREATED = Counter(
    "telecare_outreach_tasks_created", "Call tasks created (planning, campaigns, callbacks)", ["purpose"],
    registry=REGISTRY,
)
OUTREACH_TASK_OUTCOMES = Counter(
    "telecare_outreach_task_outcomes", "Call task status after an attempt", ["purpose", "status"],
    registry=REGISTRY,
)  # status="done|pending (retry)|unreached"
OUTREACH_WELFARE_RAISES = Counter(
    "telecare_outreach_welfare_raises", "Welfare checks raised for call tasks left unreached", ["result"],
    registry=REGISTRY,
)  # result="raised (when the call ended)|late (by the sweep)|failed (still owed)"
CAP_MESSAGES = Counter(
    "telecare_cap_messages", "CAP warnings ingested", ["result"], registry=REGISTRY
)  # result="campaign|duplicate|cancelled|ignored|rejected"
SCHEDULER_JOB_RUNS = Counter(
    "telecare_scheduler_job_runs", "Outreach scheduler job runs", ["job", "result"], registry=REGISTRY
)
SCHEDULER_LEADER = Gauge(
    "telecare_scheduler_leader", "1 while this process holds the outreach scheduler lock", registry=REGISTRY
)
REGISTRY_IMPORTS = Counter(
    "telecare_registry_imports", "Registry file imports", ["result"], registry=REGISTRY
)  # result="imported|refused"
REGISTRY_DEVICE_RELOADS = Counter(
    "telecare_registry_device_reloads", "Device map reloads (a cache miss or the map grew old)", registry=REGISTRY
)
SIMULATOR_MESSAGES = Counter(
    "telecare_simulator_messages", "MQTT messages the home simulator published", ["type"], registry=REGISTRY
)  # type=event type, or "status"
# Identity: sign-in and request authentication
LOGIN_FAILURES = Counter(
    "telecare_login_failures", "Refused sign-ins", ["reason"], registry=REGISTRY
)  # reason="invalid (unknown name or wrong password)|disabled|locked"
LOGINS = Counter("telecare_logins", "Successful sign-ins", registry=REGISTRY)
AUTH_REJECTIONS = Counter(
    "telecare_auth_rejections", "Requests refused for missing or bad credentials", ["reason"], registry=REGISTRY
)  # reason="anonymous|session|token|csrf"
# Insights: the service measuring itself (issue 8). The answer-time histogram is observed by the alert store
# when an alert is first answered (acknowledged, or resolved while still open); telecare_alert_ack_seconds
# above stays for existing dashboards. The gauges are refreshed by the insights job over the last 24 h.
ALERT_ANSWER_SECONDS = Histogram(
    "telecare_alert_answer_seconds", "Time from raise to first answer (acknowledged or resolved)", ["type"],
    registry=REGISTRY, buckets=(10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800),
)  # the targets: bucket le="60" / count >= 0.975 and le="180" / count >= 0.99 for alarm types
QUALITY_ALARMS = Gauge("telecare_quality_alarms", "Alarms counted over the last 24 h", registry=REGISTRY)
QUALITY_ANSWERED_WITHIN = Gauge(
    "telecare_quality_answered_within_ratio", "Share of the last 24 h's alarms answered within N seconds",
    ["seconds"], registry=REGISTRY,
)  # seconds="60|180"; NaN with no alarms
QUALITY_CADENCE_MET = Gauge(
    "telecare_quality_cadence_met_ratio", "Share of residents reached within their follow-up interval", registry=REGISTRY
)
QUALITY_UNREACHED_TODAY = Gauge(
    "telecare_quality_unreached_today", "Residents whose call ended unreached today", ["welfare_check"],
    registry=REGISTRY,
)  # welfare_check="yes|no"
QUALITY_DEVICES_OFFLINE = Gauge(
    "telecare_quality_devices_offline", "Devices silent for more than 24 h", registry=REGISTRY
)
QUALITY_CAMPAIGN_REACH = Gauge(
    "telecare_quality_campaign_reach_ratio", "Share of active campaigns' calls that reached someone", registry=REGISTRY
)
INSIGHTS_ROLLUP_LAG = Gauge(
    "telecare_insights_rollup_lag_seconds", "How far behind now the events rollups are", registry=REGISTRY
)
INSIGHTS_ERRORS = Counter(
    "telecare_insights_errors", "Insights job rounds that failed", ["stage"], registry=REGISTRY
)  # stage="rollup|quality"
# The production stack (issue 9): what Grafana's "consumer lag" and "publish -> alert" panels read.
BUS_CONSUMER_LAG = Gauge(
    "telecare_bus_consumer_lag", "Messages on the broker not yet consumed by this process's group",
    ["topic", "group"], registry=REGISTRY,
)  # set by the Kafka bus's consumers: sum over assigned partitions of (end offset - position), every second
ALERT_RAISE_LATENCY = Histogram(
    "telecare_alert_raise_latency_seconds", "Time from the trigger's moment to the alert being raised",
    ["source"], registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # source="event" (trigger.at = the gateway's event time: publish -> alert) | "timer" (due time -> raise)
