"""What an automated call says, per language: the gettext domain "calls" (outreach/locale), shared by the
Twilio adapter and the simulator. The English texts are the message ids; translators edit calls.po."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from telecare.i18n import translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "calls"
# The resident's language (primary subtag) -> Twilio's <Say language=...>; a language missing here is Catalan.
VOICES = {"ca": "ca-ES", "es": "es-ES", "en": "en-GB", "fr": "fr-FR"}
DEFAULT_LANGUAGE = "ca"


def N_(msgid: str) -> str:
    """Marks a message id for `pybabel extract -k N_` (docs/i18n.md); translated where it is spoken."""
    return msgid


PRESS = N_("Press 1 if you are fine. Press 2 to talk to someone.")
THANKS = N_("Thank you. Have a good day.")
CONNECTING = N_("All right. Someone from the service will call you shortly.")
NO_INPUT = N_("We did not hear a key. Someone from the service will call you.")
BRIDGING = N_("Connecting you to the resident.")
KEY_HOLDER = N_("Telecare service. Someone whose keys you hold needs help. Press 1 if you can go there now.")
DEFAULT_MESSAGE = N_("We are calling from the telecare service.")


@dataclass(frozen=True, slots=True)
class Prompts:
    """The fixed phrases of an automated call in one language (`voice` is Twilio's Say language)."""

    voice: str
    press: str
    thanks: str
    connecting: str
    no_input: str
    bridging: str
    key_holder: str
    default_message: str


def call_language(language: str | None) -> str:
    """The primary subtag of "es", "es-ES" or "ca_ES" when calls are spoken in it; Catalan otherwise."""
    key = (language or DEFAULT_LANGUAGE).replace("_", "-").split("-")[0].strip().lower()
    return key if key in VOICES else DEFAULT_LANGUAGE


@lru_cache(maxsize=16)
def _prompts(key: str) -> Prompts:
    say = translations(LOCALE_DIR, key, DOMAIN).gettext
    return Prompts(VOICES[key], say(PRESS), say(THANKS), say(CONNECTING), say(NO_INPUT), say(BRIDGING),
                   say(KEY_HOLDER), say(DEFAULT_MESSAGE))


def prompts_for(language: str | None) -> Prompts:
    """The prompts for a language tag such as "es", "es-ES" or "ca_ES"; Catalan when unknown."""
    return _prompts(call_language(language))


def spoken_text(message: str | None, language: str | None, gather_digits: bool,
                key_prompt: str | None = None) -> str:
    """The full text an automated call speaks before listening for a key."""
    parts = [message or ""]
    if gather_digits:
        parts.append(prompts_for(language).press if key_prompt is None else key_prompt)
    return " ".join(p for p in parts if p).strip()
