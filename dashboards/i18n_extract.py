"""Babel extractor for the pages' HTML: the text of every data-i18n element and the value of every attribute
marked data-i18n-<attribute> (placeholder, title, aria-label). The English text is the message id."""
from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import IO, Any

ATTRIBUTES = ("placeholder", "title", "aria-label")
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


def normalise(text: str) -> str:
    """The message id of an element's text: whitespace collapsed, as ui.js collapses it."""
    return re.sub(r"\s+", " ", text).strip()


class _Marked(HTMLParser):
    """Collects (line, msgid) of marked elements and attributes; nested markup inside data-i18n is an error."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.problems: list[str] = []
        self._open: list[tuple[str, int, list[str]]] = []  # (tag, line, text parts) of data-i18n elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        given = dict(attrs)
        for name in ATTRIBUTES:
            if f"data-i18n-{name}" in given and given.get(name):
                self.found.append((line, normalise(given[name] or "")))
        if self._open and tag not in VOID:
            self.problems.append(f"line {line}: <{tag}> inside a data-i18n element (split it into two)")
        if "data-i18n" in given and tag not in VOID:
            self._open.append((tag, line, []))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, line, parts = self._open.pop()
            text = normalise("".join(parts))
            if text:
                self.found.append((line, text))

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2].append(data)


def marked_messages(html: str) -> tuple[list[tuple[int, str]], list[str]]:
    """(line, msgid) of every marked text in a page, and the markup problems found."""
    parser = _Marked()
    parser.feed(html)
    parser.close()
    return parser.found, parser.problems


def extract_html(fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, Any]
                 ) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method (babel.cfg: [dashboards.i18n_extract:extract_html: ...])."""
    found, problems = marked_messages(fileobj.read().decode(options.get("encoding", "utf-8")))
    if problems:
        raise ValueError("; ".join(problems))
    for line, msgid in found:
        yield line, None, msgid, []
