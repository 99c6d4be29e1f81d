"""Read the report's HTML back: its tables (by caption), notes, images and sections."""

from __future__ import annotations

from html.parser import HTMLParser


class ReportReader(HTMLParser):
    """Collects tables as {caption: {row label: [cells]}}, notes, image sources and
    section ids of a report page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.notes: list[tuple[str, str]] = []
        self.images: list[dict] = []
        self.sections: list[str] = []
        self.links: list[str] = []
        self._table = None
        self._row = None
        self._cell = None
        self._in_caption = False
        self._note = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = {"caption": "", "header": [], "rows": []}
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag == "div" and "note" in a.get("class", ""):
            self._note = [a["class"], ""]
        elif tag == "img":
            self.images.append(a)
        elif tag == "section":
            self.sections.append(a.get("id", ""))
        elif tag in ("a", "link", "script", "iframe", "object", "embed", "source", "video", "audio"):
            self.links.append(a.get("href") or a.get("src") or tag)

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table["rows"].append(self._row)
            self._row = None
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None
        elif tag == "div" and self._note is not None:
            self.notes.append(tuple(self._note))
            self._note = None

    def handle_data(self, data):
        if self._in_caption:
            self._table["caption"] += data
        elif self._cell is not None:
            self._cell += data
        elif self._note is not None:
            self._note[1] += data

    def rows(self, caption_start: str) -> list[list[str]]:
        """The rows (header first) of the first table whose caption starts so."""
        for t in self.tables:
            if t["caption"].startswith(caption_start):
                return t["rows"]
        raise KeyError(f"no table captioned {caption_start!r}; have {[t['caption'] for t in self.tables]}")

    def table(self, caption_start: str) -> dict[str, list[str]]:
        """That table's body rows by their label (which must be unique), header under ""."""
        rows = self.rows(caption_start)
        labels = [r[0] for r in rows[1:]]
        assert len(set(labels)) == len(labels), f"repeated row labels in {caption_start!r}: {labels}"
        return {r[0]: r[1:] for r in rows}

    def settings(self) -> dict[str, str]:
        """Every two-column name/value table's pairs, merged."""
        out = {}
        for t in self.tables:
            if not t["caption"]:
                out.update({r[0]: r[1] for r in t["rows"] if len(r) == 2})
        return out
