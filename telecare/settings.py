"""One typed settings object, read from TELECARE_* environment variables and validated at start."""
from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from telecare.errors import ConfigError
from telecare.i18n import DEFAULT_LANGUAGE, Language

DEFAULT_SERVICE_TIMEZONE = "Europe/Madrid"


class Settings(BaseSettings):
    """Every knob of every process. Empty URLs mean "start an embedded one" (demo, tests)."""

    model_config = SettingsConfigDict(env_prefix="TELECARE_", extra="ignore", frozen=True)

    database_url: str | None = None
    mqtt_url: str | None = None  # mqtt://user:pass@host:1883
    data_dir: Path = Path(".telecare")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    mqtt_port: int = Field(1883, ge=0, le=65535)  # for the embedded broker
    # Ingest's persistent sessions are `<id>` and `<id>-alarms`; one id per ingest process (each process
    # receives every message, the event key stores it once: docs/protocol.md, "Subscriptions"). The broker
    # makes every client id its username (use_username_as_clientid), so each session logs in as its id with
    # TELECARE_MQTT_PASSWORD; ids live under the `telecare-ingest` prefix no gateway may be registered with
    # (docs/protocol.md, "Client ids bound to accounts"). 42 = 64 (mosquitto username) - 15 - len("-alarms").
    mqtt_client_id: str = Field("telecare-ingest-1", pattern=r"^telecare-ingest[A-Za-z0-9_.-]{0,42}$")
    # Every ingest process's TELECARE_MQTT_CLIENT_ID, comma-separated, for `telecare devices mqtt-acl` (it writes
    # two accounts per id); unset: this process's id only.
    mqtt_ingest_client_ids: str | None = None
    # Ingest's password, shared by all its accounts. Unset with the embedded broker: generated once into
    # <data-dir>/mqtt/ingest-account.json. Unset with TELECARE_MQTT_URL: the URL's user:pass, or anonymous.
    mqtt_password: str | None = Field(None, min_length=1, max_length=1024, repr=False)
    # Gone: ingest's usernames are its session ids now. Kept only to refuse it loudly rather than ignore it.
    mqtt_username: str | None = None

    @field_validator("mqtt_username")
    @classmethod
    def _no_mqtt_username(cls, v: str | None) -> None:
        if v:
            raise ValueError("no longer used: ingest logs in to each session with the session's client id "
                             "(TELECARE_MQTT_CLIENT_ID and <id>-alarms) as username and TELECARE_MQTT_PASSWORD; "
                             "unset it and re-run `telecare devices mqtt-acl`")
        return None

    @property
    def ingest_client_ids(self) -> tuple[str, ...]:
        """TELECARE_MQTT_INGEST_CLIENT_IDS as a tuple (this process's id when unset)."""
        listed = [i.strip() for i in (self.mqtt_ingest_client_ids or "").split(",") if i.strip()]
        return tuple(listed) or (self.mqtt_client_id,)

    # None: in-process when every part shares one process (demo, `run all`), PostgreSQL for a part run alone.
    bus: Literal["inprocess", "postgres", "kafka"] | None = None
    # Kafka (docs/kafka.md): TELECARE_KAFKA_BOOTSTRAP (host:port[,host:port...]) set means the Kafka bus.
    kafka_bootstrap: str | None = None
    kafka_partitions: int = Field(6, ge=1, le=10_000)  # for topics the bus creates; existing ones keep theirs
    kafka_replication: int = Field(1, ge=1, le=7)  # 3 on a production cluster
    kafka_client_id: str = Field("telecare", min_length=1, max_length=100)
    db_pool_size: int = Field(10, ge=1, le=200)
    ingest_batch_size: int = Field(500, ge=1, le=50_000)
    ingest_batch_ms: int = Field(50, ge=1, le=10_000)
    tick_seconds: float = Field(1.0, gt=0, le=60)
    log_level: str = "INFO"
    # Request bodies larger than this get 413 before they are read (the CAP upload has its own 2 MB).
    max_body_bytes: int = Field(1_048_576, ge=1024, le=100 * 1_048_576)
    # Telephony
    telephony: Literal["simulator", "twilio"] = "simulator"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_base_url: str | None = None  # point the official client at a local fake in tests
    public_base_url: str | None = None  # where Twilio reaches our webhooks
    calls_per_second: float = Field(1.0, gt=0, le=100)
    max_concurrent_calls: int = Field(10, ge=1, le=1000)
    weather_feed_url: str | None = None
    # Unacknowledged alert: second tier after this many seconds, key-holders called after that many.
    escalation_second_tier_s: int = Field(60, ge=10, le=3600)
    escalation_keyholders_s: int = Field(180, ge=30, le=7200)
    # Nobody reached: repeat the key-holder round and re-alert the operators this often until acknowledged.
    escalation_repeat_s: int = Field(600, ge=30, le=86_400)
    # The zone every screen shows times in and every text is written in (IANA name).
    service_timezone: str = DEFAULT_SERVICE_TIMEZONE
    # TimescaleDB for the events table: auto (when the server offers it; a server where it is installed but not in
    # shared_preload_libraries is refused with what to set), or off (plain PostgreSQL monthly partitions).
    timescale: Literal["auto", "off"] = "auto"  # telecare.store.timescale.TimescaleMode
    # The language of every page until a user picks their own (the top bar's selector): ca, es or en.
    service_language: Language = DEFAULT_LANGUAGE

    @field_validator("service_timezone")
    @classmethod
    def _check_zone(cls, v: str) -> str:
        return check_zone_name(v)

    @property
    def service_zone(self) -> ZoneInfo:
        """The service time zone as a ZoneInfo."""
        return ZoneInfo(self.service_timezone)

    # Identity: session lifetime (absolute) and idle timeout, login throttling, cookie flags
    session_max_s: int = Field(12 * 3600, ge=60, le=30 * 86400)
    session_idle_s: int = Field(30 * 60, ge=30, le=86400)
    login_max_failures: int = Field(5, ge=1, le=1000)  # per user name, within login_window_s
    login_address_max_failures: int = Field(20, ge=1, le=100_000)  # per remote address (NAT: higher)
    login_window_s: int = Field(15 * 60, ge=1, le=86400)
    login_lock_s: int = Field(15 * 60, ge=1, le=86400)
    secure_cookies: bool | None = None  # None: Secure cookies when public_base_url is https

    @property
    def cookies_secure(self) -> bool:
        """Whether session cookies get the Secure flag."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return bool(self.public_base_url and self.public_base_url.lower().startswith("https://"))

    # Retention per data kind (GDPR storage limitation), enforced by the maintenance job (gdpr/retention.py).
    retention_events_days: int = Field(730, ge=30, le=36_500)  # raw sensor events
    retention_dead_letters_days: int = Field(30, ge=1, le=3650)
    retention_audit_days: int = Field(1825, ge=365, le=36_500)  # the database refuses less than a year

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, v: str | None) -> str | None:
        if v and urlsplit(v).scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL")
        return v or None

    @field_validator("kafka_bootstrap")
    @classmethod
    def _check_kafka_bootstrap(cls, v: str | None) -> str | None:
        if not v or not v.strip():
            return None
        for server in v.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be host:port[,host:port...]")
        return v.strip()

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, v: str | None) -> str | None:
        if v and urlsplit(v).scheme not in ("mqtt", "tcp"):
            raise ValueError("must be an mqtt://host:port URL")
        return v or None


def check_zone_name(value: str) -> str:
    """An IANA zone name zoneinfo knows (e.g. Europe/Madrid); ValueError otherwise."""
    name = value.strip()
    if not name or len(name) > 64 or "\x00" in name:
        raise ValueError("must be an IANA time zone name like Europe/Madrid")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name[:64]!r} (expected an IANA name like Europe/Madrid)") from err
    return name


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (plus overrides); raise ConfigError with a clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = "; ".join(
            f"TELECARE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from err


def bus_for(settings: Settings, part: str) -> str:
    """The bus a process running `part` ("all" = every part together) uses; refuse one that cannot reach the others."""
    if settings.bus == "kafka" and not settings.kafka_bootstrap:
        raise ConfigError("TELECARE_BUS=kafka needs TELECARE_KAFKA_BOOTSTRAP (host:port of the Kafka brokers)")
    if settings.bus is None and settings.kafka_bootstrap:
        return "kafka"
    if settings.bus is None:
        return "inprocess" if part == "all" else "postgres"
    if settings.bus == "inprocess" and part != "all":
        raise ConfigError(
            f"TELECARE_BUS=inprocess only connects parts inside one process: `telecare run {part}` alone would "
            "never hear from the other parts. Set TELECARE_BUS=postgres (the default for a part run alone) "
            "or start them together with `telecare run all`")
    return settings.bus


def mqtt_address(url: str) -> tuple[str, int, str | None, str | None]:
    """(host, port, username, password) from an mqtt:// URL."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883, parts.username, parts.password
