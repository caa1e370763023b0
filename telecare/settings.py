"""One typed settings object, read from TELECARE_* environment variables and validated at start."""
from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from telecare.errors import ConfigError


class Settings(BaseSettings):
    """Every knob of every process. Empty URLs mean "start an embedded one" (demo, tests)."""

    model_config = SettingsConfigDict(env_prefix="TELECARE_", extra="ignore", frozen=True)

    database_url: str | None = None
    mqtt_url: str | None = None  # mqtt://user:pass@host:1883
    data_dir: Path = Path(".telecare")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    mqtt_port: int = Field(1883, ge=0, le=65535)  # for the embedded broker
    mqtt_share_group: str = "telecare-ingest"
    mqtt_client_id: str = "telecare-ingest-1"
    bus: Literal["inprocess", "postgres", "kafka"] = "inprocess"
    kafka_bootstrap: str | None = None
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

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, v: str | None) -> str | None:
        if v and urlsplit(v).scheme not in ("postgresql", "postgres"):
            raise ValueError("must be a postgresql:// URL")
        return v or None

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, v: str | None) -> str | None:
        if v and urlsplit(v).scheme not in ("mqtt", "tcp"):
            raise ValueError("must be an mqtt://host:port URL")
        return v or None


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (plus overrides); raise ConfigError with a clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = "; ".join(
            f"TELECARE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from err


def mqtt_address(url: str) -> tuple[str, int, str | None, str | None]:
    """(host, port, username, password) from an mqtt:// URL."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 1883, parts.username, parts.password
