"""No input makes the front-end slower than linear: pathological inputs finish well under a second."""

import time

import pytest

from function.text import english, normalize_bangla_text, split_sentences
from function.text.user_lexicon import UserLexicon

PATHOLOGICAL = {
    "10,000 digits": "৭" * 10_000,
    "5,000 dots": "." * 5_000,
    "comma-grouped digits": "১১," * 3_300,
    "digit dot chain": "1." * 5_000,
    "slashes": "1/" * 5_000,
    "colons": "1:" * 5_000,
    "dashes": "1-" * 5_000,
    "letters then a digit": "a" * 9_999 + "1",
    "a letter and a digit": "a1" * 5_000,
    "at signs": "a@" * 5_000,
    "url-like": "www." + "a." * 5_000,
    "capitals": "A" * 10_000,
    "dotted capitals": "A." * 5_000,
    "dotted Bangla initials": "ক." * 5_000,
    "visarga abbreviations": "মোঃ" * 3_000,
    "nukta run": "য" + "\u09bc" * 10_000,
    "zero-width joiners": "র\u200d" * 5_000,
    "spaces and newlines": " \n" * 5_000,
    "emoji": "😀" * 10_000,
    "currency": "৳১ " * 3_000,
    "dates": "১/১/১৯৭১ " * 1_000,
    "long word": "ক্ষ" * 4_000,
    "long Latin word": "ab" * 5_000,
    "camel case": "aB" * 5_000,
    "apostrophes": "a'" * 5_000,
    "English words": "Facebook " * 1_100,
    "glued case endings": "Facebookএর" * 1_000,
    "accented letters": "é" * 10_000,
    "lists of years": "১৯৭১ ও " * 1_500,
    "money ranges": "৳1-" * 3_000,
    "slash names": "9/11/" * 2_000,
    # Runs of whitespace between letters (issue 23: 64,000 spaces took 2.2 s, quadratic).
    "a run of spaces": "আ" + " " * 64_000 + "আ",
    "a run of tabs": "আ" + "\t" * 64_000 + "আ",
    "a run of no-break spaces": "আ" + "\u00a0" * 64_000 + "আ",
    "a run of em spaces": "আ" + "\u2003" * 64_000 + "আ",
    "spaces then a comma": "আ" + " " * 64_000 + ",আ",
    "spaces before the end": "আ" + " " * 64_000,
}
LEXICON = UserLexicon.from_bytes("yunus\tইউনূস\nঢাবি\tঢাকা বিশ্ববিদ্যালয়\nXTTS\tXTTS\n".encode(), "test")


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_input_is_fast(name: str) -> None:
    text = PATHOLOGICAL[name]
    elapsed = float("inf")
    for _ in range(3):  # the best of three: a scheduling hiccup on a busy CI box is not the code
        english._spell_cached.cache_clear()  # time the words' reading, not the cache
        start = time.perf_counter()
        out = normalize_bangla_text(text, lexicon=LEXICON)
        split_sentences(out, 150)
        split_sentences(text, 150)
        elapsed = min(elapsed, time.perf_counter() - start)
    assert elapsed < 0.5, f"{name}: {elapsed:.3f}s"


def test_time_grows_linearly() -> None:
    unit = (
        "দাম ৳১,২৫০.৫০, ১৬/১২/১৯৭১ সকাল ১০:৩০ ডা. মো. BTRC ০১৭১২৩৪৫৬৭৮ ৫০% ১০-১৫ কি.মি.। "
        "Dr. Yunus Facebook-এ www.prothomalo.com, ১৯৫২ ও ১৯৭১ সালে ৳২০-২৫ টাকা। "
    )

    def cost(n: int) -> float:
        text = unit * n
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            normalize_bangla_text(text)
            best = min(best, time.perf_counter() - start)
        return best

    small, large = cost(200), cost(1600)
    # 8x the text: a linear front-end takes about 8x as long; a quadratic one 64x.
    assert large < small * 20, (small, large)
