"""The small exception tree the platform raises; messages are safe to show an operator."""


class TelecareError(Exception):
    """Base of every error the platform raises on purpose."""


class ConfigError(TelecareError):
    """Settings are missing or invalid; the process cannot start."""


class StoreError(TelecareError):
    """The database refused or failed an operation."""


class ConflictError(StoreError):
    """A write collided with existing data (unique key, concurrent change)."""


class NotFound(TelecareError):
    """The thing asked for does not exist."""


class InvalidInput(TelecareError):
    """Input from a user, a file or a device is malformed."""


class BrokerError(TelecareError):
    """The MQTT broker could not be reached or refused us."""


class TelephonyError(TelecareError):
    """The telephony provider failed a request."""


class BusError(TelecareError):
    """The message bus (Kafka) could not be reached or refused a message; says which broker, never the content."""
