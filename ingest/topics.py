"""The device topic scheme `telecare/v1/<gateway>/<device>/<type>` and `telecare/v1/<gateway>/status` (pure)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

PREFIX = "telecare/v1"
DEVICE_FILTER = f"{PREFIX}/+/+/+"
# Ingest's main session: the whole subtree, so a misshapen topic is received and dead-lettered as
# bad_topic instead of matching nothing (status topics are inside it too).
SUBTREE_FILTER = f"{PREFIX}/#"
# The last level names the event type, so one filter per alarm type isolates alarms without a protocol
# change. Ingest's alarm session subscribes to these. The main session's `#` matches them too (MQTT
# has no "all but"); it acknowledges those copies unread (is_alarm_topic), so each alarm is handled once.
ALARM_EVENT_TYPES = ("help_button", "fall")
ALARM_FILTERS = tuple(f"{PREFIX}/+/+/{event_type}" for event_type in ALARM_EVENT_TYPES)
MAX_ID_LENGTH = 64
# The longest well-formed topic is about 3 ids and an event type; anything much longer is junk and must
# be refused before it reaches the cache (64 KiB topics once grew it by 114 MB).
MAX_TOPIC_LENGTH = 256
PARSE_CACHE_SIZE = 20_000  # a fleet has a bounded set of topics; this bounds memory at ~10 MB
_PREFIX_PARTS = PREFIX.split("/")


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """An event topic: which gateway relayed it, which device sent it, what it says happened."""

    gateway_id: str
    device_id: str
    event_type: str


@dataclass(frozen=True, slots=True)
class StatusTopic:
    """A gateway's retained presence topic (online/offline, set as its MQTT will)."""

    gateway_id: str


def _valid_id(part: str) -> bool:
    # Wildcards and '$' cannot occur in a received topic but ids must also be sane to store and show.
    return 0 < len(part) <= MAX_ID_LENGTH and part.isprintable() and not any(c in part for c in "+#$ ")


def parse_topic(topic: str) -> DeviceTopic | StatusTopic | None:
    """The topic's parts, or None when it does not follow the scheme (any shape, any length, any text)."""
    if not isinstance(topic, str) or len(topic) > MAX_TOPIC_LENGTH:
        return None
    return _parse(topic)


@lru_cache(maxsize=PARSE_CACHE_SIZE)  # parsing shows up in profiles; keys are at most MAX_TOPIC_LENGTH
def _parse(topic: str) -> DeviceTopic | StatusTopic | None:
    parts = topic.split("/")
    if parts[:2] != PREFIX.split("/"):
        return None
    if len(parts) == 4 and parts[3] == "status" and _valid_id(parts[2]):
        return StatusTopic(parts[2])
    if len(parts) == 5 and _valid_id(parts[2]) and _valid_id(parts[3]) and _valid_id(parts[4]):
        return DeviceTopic(parts[2], parts[3], parts[4])
    return None


def device_topic(gateway_id: str, device_id: str, event_type: str) -> str:
    """The topic a device event is published on."""
    return f"{PREFIX}/{gateway_id}/{device_id}/{event_type}"


def status_topic(gateway_id: str) -> str:
    """The retained presence topic of a gateway."""
    return f"{PREFIX}/{gateway_id}/status"


def shared(group: str, topic_filter: str) -> str:
    """A shared-subscription filter: subscribers in `group` split the messages."""
    return f"$share/{group}/{topic_filter}"


def is_alarm_topic(topic: str) -> bool:
    """True when `topic` matches one of ALARM_FILTERS (as the broker matches: `+` is any one level)."""
    parts = topic.split("/")
    return len(parts) == 5 and parts[:2] == _PREFIX_PARTS and parts[4] in ALARM_EVENT_TYPES
