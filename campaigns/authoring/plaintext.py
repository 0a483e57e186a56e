"""The plain-text part, generated from the campaign's blocks: readable, links as numbered footnotes,
headings underlined. Written by hand because it follows our blocks, not arbitrary HTML."""

import textwrap
from html.parser import HTMLParser

from wagtail.rich_text import expand_db_html

WIDTH = 72


class _Footnotes:
    def __init__(self):
        self.urls: list[str] = []

    def add(self, url: str) -> str:
        if url not in self.urls:
            self.urls.append(url)
        return f"[{self.urls.index(url) + 1}]"


class _RichTextToText(HTMLParser):
    """Paragraphs and list items become lines; links become "text [n]"."""

    def __init__(self, notes: _Footnotes):
        super().__init__(convert_charrefs=True)
        self.notes = notes
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.href: str | None = None
        self.list_stack: list[list] = []

    def _flush(self, prefix: str = ""):
        # Collapse spaces within each line; keep the line breaks a <br> asked for.
        text = "\n".join(" ".join(line.split()) for line in "".join(self.current).split("\n")).strip()
        if text:
            self.blocks.append(prefix + text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.href = dict(attrs).get("href")
        elif tag in ("ul", "ol"):
            self._flush()
            self.list_stack.append([tag, 0])
        elif tag == "li":
            self._flush()
        elif tag == "br":
            self.current.append("\n")

    def handle_endtag(self, tag):
        if tag == "a" and self.href:
            self.current.append(f" {self.notes.add(self.href)}")
            self.href = None
        elif tag == "li" and self.list_stack:
            kind = self.list_stack[-1]
            kind[1] += 1
            self._flush(f"{kind[1]}. " if kind[0] == "ol" else "- ")
        elif tag in ("ul", "ol") and self.list_stack:
            self.list_stack.pop()
        elif tag in ("p", "h1", "h2", "h3", "h4", "div"):
            self._flush()

    def handle_data(self, data):
        self.current.append(data)

    def text(self) -> list[str]:
        self._flush()
        return self.blocks


def _wrap(text: str) -> str:
    return "\n".join(textwrap.fill(line, WIDTH) if len(line) > WIDTH else line for line in text.splitlines())


def _block_text(block, notes: _Footnotes) -> list[str]:
    kind, value = block.block_type, block.value
    if kind == "heading":
        underline = "=" if value["level"] == "h1" else "-"
        return [f"{value['text']}\n{underline * min(len(value['text']), WIDTH)}"]
    if kind == "text":
        parser = _RichTextToText(notes)
        parser.feed(expand_db_html(value.source))
        return [_wrap(t) for t in parser.text()]
    if kind == "image":
        return [f"[{value['alt']}]" + (f" {notes.add(value['link'])}" if value["link"] else "")]
    if kind == "product":
        return [f"{value['name']}, {value['price']} {notes.add(value['link'])}"]
    if kind == "button":
        return [f"{value['text']} {notes.add(value['link'])}"]
    if kind == "divider":
        return ["-" * 24]
    if kind == "two_columns":
        return [t for side in ("left", "right") for child in value[side] for t in _block_text(child, notes)]
    return []  # spacer: the blank line between blocks is enough


def campaign_text_body(page) -> str:
    """The content part of the plain text: blocks in order, then the footnoted links."""
    notes = _Footnotes()
    parts = [t for block in page.body for t in _block_text(block, notes)]
    text = "\n\n".join(parts)
    if notes.urls:
        text += "\n\nLinks:\n" + "\n".join(f"[{i}] {url}" for i, url in enumerate(notes.urls, 1))
    return text
