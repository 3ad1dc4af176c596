"""A large word -> reading table kept as its file's text and searched in place.

The file is one header line, then `word<TAB>reading` lines sorted by word, gzip-compressed (a quarter
of the size in the repository and the image). Loading is a single read and decompression (no
dictionary of a hundred thousand entries to build: a few tens of milliseconds and the text's own size
in memory), and a lookup bisects the text by character offset, a few microseconds.
"""

from __future__ import annotations

import gzip
import threading
from pathlib import Path


class SortedTable:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._text: str | None = None
        self._first = 0  # where the entries start, after the header line
        self._lock = threading.Lock()

    def _loaded(self) -> str:
        if self._text is None:
            with self._lock:
                if self._text is None:
                    text = self.read()
                    self._first = text.index("\n") + 1
                    self._text = text
        return self._text

    def read(self) -> str:
        """The whole table's text, header line included."""
        return gzip.decompress(self.path.read_bytes()).decode("utf-8")

    def get(self, word: str) -> str | None:
        """The reading of `word`, or None."""
        text = self._loaded()
        lo, hi = self._first, len(text)  # line starts; the first line with key >= word is in [lo, hi]
        while lo < hi:
            start = text.rfind("\n", 0, (lo + hi) // 2) + 1
            tab = text.index("\t", start)
            if text[start:tab] < word:
                lo = text.index("\n", tab) + 1
            else:
                hi = start
        if lo == len(text):
            return None
        tab = text.index("\t", lo)
        if text[lo:tab] != word:
            return None
        return text[tab + 1 : text.index("\n", tab)]
