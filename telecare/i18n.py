"""The service's languages and its gettext catalogues (the one module that imports Babel)."""
from __future__ import annotations

import gettext
import io
import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


class Language(StrEnum):
    """A language every page and call script is written in (ISO 639-1; the msgids are English)."""

    CA = "ca"
    ES = "es"
    EN = "en"

    @property
    def voice(self) -> str:
        """The BCP 47 tag Twilio's <Say language=…> takes for this language."""
        return {"ca": "ca-ES", "es": "es-ES", "en": "en-GB"}[self.value]


DEFAULT_LANGUAGE = Language.CA
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def parse_language(tag: str | None, default: Language = DEFAULT_LANGUAGE) -> Language:
    """The Language of a tag such as "ca", "es-ES", "ca_ES" or "EN"; `default` when unknown or empty."""
    key = (tag or "").replace("_", "-").split("-")[0].strip().lower()
    try:
        return Language(key)
    except ValueError:
        return default


def catalogue_path(locale_dir: Path, language: Language | str, domain: str) -> Path:
    """Where the .po file of one language of one domain lives (gettext layout)."""
    return locale_dir / str(language) / "LC_MESSAGES" / f"{domain}.po"


def read_catalogue(path: Path) -> Catalog:
    """A .po file parsed by Babel (raises on a malformed file: a broken catalogue must not start)."""
    with path.open("rb") as fh:
        return read_po(fh, abort_invalid=True)


def messages(locale_dir: Path, language: Language | str, domain: str = "messages") -> dict[str, str]:
    """msgid -> msgstr of one language, untranslated and fuzzy entries left out (the page falls back to English)."""
    path = catalogue_path(locale_dir, language, domain)
    if not path.exists():
        return {}
    return {str(m.id): str(m.string) for m in read_catalogue(path)
            if m.id and isinstance(m.id, str) and m.string and not m.fuzzy}


def placeholder_mismatch(msgid: str, msgstr: str) -> set[str]:
    """Placeholders ({name}) present in one of the two texts but not the other."""
    return set(PLACEHOLDER.findall(msgid)) ^ set(PLACEHOLDER.findall(msgstr))


@lru_cache(maxsize=32)
def translations(locale_dir: Path, language: str, domain: str) -> gettext.NullTranslations:
    """Python gettext translations of a domain ("ca", "es", ...), compiled in memory from its .po; English,
    or a language without a catalogue, is the msgids themselves."""
    path = catalogue_path(locale_dir, language, domain)
    if language == Language.EN.value or not path.exists():
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(path), use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def compile_catalogues(locale_dir: Path, domain: str) -> list[Path]:
    """Write <lang>/LC_MESSAGES/<domain>.mo next to every .po of the domain (for tools that want .mo files)."""
    written = []
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{domain}.po")):
        mo = po.with_suffix(".mo")
        with mo.open("wb") as fh:
            write_mo(fh, read_catalogue(po), use_fuzzy=False)
        written.append(mo)
    return written
