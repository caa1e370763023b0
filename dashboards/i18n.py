"""The pages' catalogues (dashboards/locale, gettext domain "messages") as JSON for static/ui.js's t()."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from telecare.i18n import Language, messages

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"


@dataclass(frozen=True, slots=True)
class CompiledCatalogue:
    """One language's catalogue, serialised once: the JSON body and its ETag."""

    language: Language
    body: bytes
    etag: str


def compile_language(language: Language, locale_dir: Path = LOCALE_DIR) -> CompiledCatalogue:
    """The JSON the browser loads: {"language": "ca", "messages": {English msgid: translation}}."""
    words = {} if language is Language.EN else messages(locale_dir, language, DOMAIN)
    body = json.dumps({"language": language.value, "messages": words}, ensure_ascii=False,
                      sort_keys=True, separators=(",", ":")).encode()
    return CompiledCatalogue(language, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@lru_cache(maxsize=4)
def compile_all(locale_dir: Path = LOCALE_DIR) -> dict[Language, CompiledCatalogue]:
    """Every language's catalogue, read from the .po files once per process at app start (a malformed .po
    refuses to start the app)."""
    return {language: compile_language(language, locale_dir) for language in Language}
