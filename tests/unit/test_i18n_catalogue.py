"""Every word the pages write has a Catalan and a Spanish translation, and the catalogues are sound gettext.

The message ids are found here independently of `pybabel extract` (a regex over the scripts, the HTML
extractor over the pages), so a page added later with t("…") / data-i18n fails until its words are translated.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dashboards.i18n import LOCALE_DIR, compile_language
from dashboards.i18n_extract import marked_messages
from telecare.i18n import Language, catalogue_path, parse_language, placeholder_mismatch, read_catalogue

STATIC = Path(__file__).resolve().parents[2] / "dashboards" / "static"
# Server-side tables of sentences the pages show with t() (marked N_("…") there, extracted by scripts/i18n).
ROOT = Path(__file__).resolve().parents[2]
SERVER_WORDS = tuple(ROOT / p for p in ("devices/commissioning_plan.py", "rules/catalog.py", "telecare/alerts.py",
                                        "outreach/task_records.py", "outreach/human_calls.py"))  # + alert reasons
# t("…") / N_("…") with a literal first argument, either quote style (ui.t(, telecareUI.t( included).
CALL = re.compile(r"""(?<![\w$])(?:t|N_)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(`))""")


def _js_ids(path: Path) -> tuple[set[str], list[str]]:
    ids, problems = set(), []
    # Whole-line and block comments are not words on a page (ui.js explains t() with examples).
    source = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
    source = re.sub(r"(?m)^\s*//.*$", "", source)
    for m in CALL.finditer(source):
        if m.group(3):
            problems.append(f"{path.name}: t(`…`) with a template literal (use t(\"… {{param}}\", {{param}}))")
        else:
            raw = m.group(1) if m.group(1) is not None else m.group(2)
            ids.add(re.sub(r"\\(.)", r"\1", raw))  # \" and \' as written in the script
    return ids, problems


def used_ids() -> tuple[dict[str, str], list[str]]:
    """msgid -> first file using it, and markup problems, over every page and script under dashboards/static."""
    found: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted(STATIC.rglob("*.js")):
        if "vendor" in path.relative_to(STATIC).parts:
            continue  # third-party code (echarts' minified t("fill", …) is not a page's word)
        ids, bad = _js_ids(path)
        problems += bad
        for i in ids:
            found.setdefault(i, str(path.relative_to(STATIC)))
    for path in SERVER_WORDS:
        ids, _ = _js_ids(path)
        for i in ids:
            found.setdefault(i, path.name)
    for path in sorted(STATIC.rglob("*.html")):
        marked, bad = marked_messages(path.read_text())
        problems += [f"{path.name}: {b}" for b in bad]
        for _, i in marked:
            found.setdefault(i, str(path.relative_to(STATIC)))
    return found, problems


def test_the_pages_use_words_and_mark_them_well():
    found, problems = used_ids()
    assert not problems, problems
    # The scan sees the operator queue's words, from the script and from the HTML.
    assert {"Acknowledge", "Alert queue", "Operator queue", "Fall"} <= set(found)


@pytest.mark.parametrize("language", [Language.CA, Language.ES])
def test_every_word_on_the_pages_is_translated(language):
    found, _ = used_ids()
    catalogue = {m.id: m for m in read_catalogue(catalogue_path(LOCALE_DIR, language, "messages")) if m.id}
    missing = sorted(f"{i!r} ({where})" for i, where in found.items()
                     if i not in catalogue or not catalogue[i].string or catalogue[i].fuzzy)
    assert not missing, (f"{len(missing)} words without a {language.value} translation; run the pybabel commands "
                         f"of docs/i18n.md and translate them: " + "; ".join(missing[:40]))


@pytest.mark.parametrize("language", list(Language))
def test_catalogues_parse_and_keep_their_placeholders(language):
    path = catalogue_path(LOCALE_DIR, language, "messages")
    catalogue = read_catalogue(path)  # Babel refuses a malformed file
    assert catalogue.locale is not None and str(catalogue.locale) == language.value
    wrong = [(m.id, m.string) for m in catalogue if m.id and m.string and placeholder_mismatch(m.id, m.string)]
    assert not wrong, wrong


def test_the_template_lists_every_word():
    found, _ = used_ids()
    template = {m.id for m in read_catalogue(LOCALE_DIR / "messages.pot") if m.id}
    assert not set(found) - template, sorted(set(found) - template)


def test_the_served_catalogue_is_the_translation_and_english_is_the_ids():
    ca = json.loads(compile_language(Language.CA).body)
    assert ca["language"] == "ca" and ca["messages"]["Acknowledge"] == "Atendre"
    assert json.loads(compile_language(Language.ES).body)["messages"]["Acknowledge"] == "Atender"
    assert json.loads(compile_language(Language.EN).body)["messages"] == {}  # t() falls back to the English id


def test_a_placeholder_lost_in_translation_is_found():
    assert placeholder_mismatch("Taken by {name}", "Atesa per {nom}") == {"name", "nom"}
    assert placeholder_mismatch("{count} resolved", "{count} resoltes") == set()


@pytest.mark.parametrize("tag, expected", [("ca", Language.CA), ("es-ES", Language.ES), ("ca_ES", Language.CA),
                                           ("EN", Language.EN), ("fr", Language.CA), ("", Language.CA),
                                           (None, Language.CA)])
def test_language_tags(tag, expected):
    assert parse_language(tag) is expected


# t("… {a} …", { a, b: x }): the object literal right after the message id (one level of braces).
CALL_WITH_PARAMS = re.compile(r"""(?<![\w$])t\(\s*"((?:[^"\\]|\\.)*)"\s*(?:,\s*\{([^{}]*)\})?\s*\)""")


def test_every_placeholder_of_a_call_gets_a_value():
    unfilled = []
    for path in sorted(STATIC.rglob("*.js")):
        for m in CALL_WITH_PARAMS.finditer(path.read_text()):
            given = {k for k, _ in re.findall(r"(\w+)\s*(:|,|$)", m.group(2) or "")}
            wanted = set(re.findall(r"\{(\w+)\}", m.group(1)))
            if wanted - given:
                unfilled.append(f"{path.name}: t({m.group(1)!r}) without {sorted(wanted - given)}")
    assert not unfilled, unfilled
