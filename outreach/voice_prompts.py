"""What an automated call says, per language: data shared by the Twilio adapter and the simulator."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Prompts:
    """The fixed phrases of an automated call in one language (`voice` is Twilio's Say language)."""

    voice: str
    press: str
    thanks: str
    connecting: str
    no_input: str
    bridging: str


# Keyed by the primary language subtag; the resident's language "ca-ES" or "ca" both find "ca".
PROMPTS: dict[str, Prompts] = {
    "ca": Prompts(
        voice="ca-ES",
        press="Premeu 1 si esteu bé. Premeu 2 per parlar amb algú.",
        thanks="Gràcies. Que tingueu un bon dia.",
        connecting="D'acord. Una persona del servei us trucarà de seguida.",
        no_input="No hem rebut cap resposta. Una persona del servei us trucarà.",
        bridging="Us connectem amb la persona usuària.",
    ),
    "es": Prompts(
        voice="es-ES",
        press="Pulse 1 si se encuentra bien. Pulse 2 para hablar con alguien.",
        thanks="Gracias. Que tenga un buen día.",
        connecting="De acuerdo. Una persona del servicio le llamará enseguida.",
        no_input="No hemos recibido respuesta. Una persona del servicio le llamará.",
        bridging="Le conectamos con la persona usuaria.",
    ),
    "en": Prompts(
        voice="en-GB",
        press="Press 1 if you are fine. Press 2 to talk to someone.",
        thanks="Thank you. Have a good day.",
        connecting="All right. Someone from the service will call you shortly.",
        no_input="We did not hear a key. Someone from the service will call you.",
        bridging="Connecting you to the resident.",
    ),
    "fr": Prompts(
        voice="fr-FR",
        press="Appuyez sur 1 si tout va bien. Appuyez sur 2 pour parler à quelqu'un.",
        thanks="Merci. Bonne journée.",
        connecting="D'accord. Une personne du service va vous rappeler.",
        no_input="Nous n'avons reçu aucune réponse. Une personne du service va vous rappeler.",
        bridging="Nous vous mettons en relation avec la personne.",
    ),
}
DEFAULT_LANGUAGE = "ca"


def prompts_for(language: str | None) -> Prompts:
    """The prompts for a language tag such as "es", "es-ES" or "ca_ES"; Catalan when unknown."""
    key = (language or DEFAULT_LANGUAGE).replace("_", "-").split("-")[0].lower()
    return PROMPTS.get(key, PROMPTS[DEFAULT_LANGUAGE])


def spoken_text(message: str | None, language: str | None, gather_digits: bool,
                key_prompt: str | None = None) -> str:
    """The full text an automated call speaks before listening for a key."""
    parts = [message or ""]
    if gather_digits:
        parts.append(prompts_for(language).press if key_prompt is None else key_prompt)
    return " ".join(p for p in parts if p).strip()
