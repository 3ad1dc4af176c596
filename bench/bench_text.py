"""Bangla text front-end: throughput on a 1 MB news-style text, and how much of our hand-checked
table each PyPI normalizer reads the same way (`python -m bench text`)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import random
import re
import time
import tracemalloc
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.machine import write_result
from function.text import normalize_bangla_text, split_sentences

ROOT = Path(__file__).resolve().parents[1]
TABLE_FILE = ROOT / "tests" / "text" / "test_normalize_table.py"

PROSE = (
    "বাংলাদেশের অর্থনীতি গত কয়েক বছরে উল্লেখযোগ্য অগ্রগতি অর্জন করেছে।",
    "রাজধানীর যানজট নিরসনে সরকার নতুন পরিকল্পনা হাতে নিয়েছে।",
    "আবহাওয়া অধিদপ্তর জানিয়েছে, দেশের বিভিন্ন স্থানে হালকা থেকে মাঝারি বৃষ্টি হতে পারে।",
    "শিক্ষার্থীরা ক্যাম্পাসে শান্তিপূর্ণ মানববন্ধন কর্মসূচি পালন করেছে।",
    "কৃষকেরা এবার বোরো ধানের ভালো ফলন পেয়েছেন বলে জানা গেছে।",
    "নদীভাঙনে উপকূলীয় এলাকার বহু পরিবার ঘরবাড়ি হারিয়েছে।",
    "স্বাস্থ্যমন্ত্রী হাসপাতালগুলোর সেবার মান বাড়ানোর নির্দেশ দিয়েছেন।",
    "পদ্মা সেতু দিয়ে প্রতিদিন হাজারো যানবাহন চলাচল করছে।",
    "বইমেলায় এবার নতুন লেখকদের বই বেশি বিক্রি হচ্ছে।",
    "ক্রিকেট দল আগামী সিরিজের জন্য কঠোর অনুশীলন শুরু করেছে।",
    "তৈরি পোশাক খাতের শ্রমিকেরা মজুরি বৃদ্ধির দাবি জানিয়েছেন।",
    "গ্রামীণ সড়কের উন্নয়নে স্থানীয় সরকার বিভাগ কাজ করছে।",
    "ডেঙ্গু প্রতিরোধে সিটি করপোরেশন মশক নিধন অভিযান জোরদার করেছে।",
    "প্রবাসী আয় দেশের বৈদেশিক মুদ্রার মজুত শক্তিশালী করছে।",
    "বিশেষজ্ঞরা বলছেন, জলবায়ু পরিবর্তনের প্রভাব মোকাবিলায় দ্রুত পদক্ষেপ প্রয়োজন।",
    "শহরের বাজারগুলোতে সবজির সরবরাহ স্বাভাবিক রয়েছে।",
    "তিনি বলেন, আমরা সবাই মিলে দেশকে এগিয়ে নিতে চাই।",
    "সুন্দরবনের জীববৈচিত্র্য রক্ষায় নতুন প্রকল্প নেওয়া হয়েছে।",
    "অনলাইনে কেনাকাটার প্রবণতা দিন দিন বাড়ছে।",
    "জাতীয় সংসদে বাজেট নিয়ে আলোচনা চলছে।",
)
NUMERIC = (
    "চালের দাম কেজিপ্রতি ৳৬৫.৫০ থেকে বেড়ে ৳৭২ হয়েছে।",
    "১৬/১২/১৯৭১ তারিখে দেশ স্বাধীন হয়।",
    "২১শে ফেব্রুয়ারি আন্তর্জাতিক মাতৃভাষা দিবস।",
    "সভা শুরু হবে সকাল ১০:৩০ মিনিটে।",
    "প্রকল্পের ব্যয় ধরা হয়েছে ১,২৫০ কোটি টাকা।",
    "এ বছর প্রবৃদ্ধি ৬.৫% হতে পারে।",
    "যোগাযোগ: ০১৭১২৩৪৫৬৭৮",
    "ডা. মো. রফিকুল ইসলাম রোগীদের দেখেন।",
    "BTRC জানিয়েছে, গ্রাহক ১৯ কোটি ছাড়িয়েছে।",
    "২০২৪-০৩-২৬ তারিখে স্বাধীনতা দিবস পালিত হয়।",
    "দুর্ঘটনায় ১২ জন নিহত ও ৩৫ জন আহত হয়েছেন।",
    "ঢাকার তাপমাত্রা ছিল ৩৫ ডিগ্রি সেলসিয়াস।",
    "১৯৭১ সালে মুক্তিযুদ্ধ হয়েছিল।",
    "দলটি ২য় ম্যাচে ৫ উইকেটে জিতেছে।",
    "মূল্যস্ফীতি ৯.৭২ শতাংশে দাঁড়িয়েছে।",
    "রাত ৯টায় অনুষ্ঠান শেষ হয়।",
    "সেতুটির দৈর্ঘ্য ৬.১৫ কি.মি.।",
    "প্রায় ১০-১৫ হাজার মানুষ জড়ো হন।",
    "৩ মার্চ ২০২৪ থেকে মেলা শুরু।",
    "রিজার্ভ ২,১৩৯ কোটি ডলারে নেমেছে।",
)
# Code-mixed sentences as Bangladeshi news and social media write them: brands, names, addresses.
CODE_MIXED = (
    "আমি Facebook-এ পোস্টটি share করেছি।",
    "Dr. Yunus বলেন, দেশ এগিয়ে যাবে।",
    "বিস্তারিত জানতে www.prothomalo.com দেখুন।",
    "Samsung এর নতুন phone বাজারে এসেছে।",
    "bKash দিয়ে ৳১,২৫০ টাকা পাঠান।",
    "Dhaka University তে ভর্তি পরীক্ষা শুরু।",
    "YouTube চ্যানেলটি দশ লাখ subscriber পেয়েছে।",
    "Meeting টা cancel হয়েছে, deadline কাল সকালে।",
    "১৯৫২, ১৯৬৯ ও ১৯৭১ সালে বাংলাদেশের ইতিহাস বদলেছে।",
    "৯৯৯ নম্বরে ফোন করে Police ডাকা হয়।",
)


def news_text(
    size_bytes: int = 1_000_000, seed: int = 2024, numeric_share: float = 0.3, mixed_share: float = 0.1
) -> str:
    """Sentences drawn with a fixed seed until the UTF-8 size reaches size_bytes."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < size_bytes:
        draw = rng.random()
        pool = PROSE
        if draw < numeric_share + mixed_share:
            pool = NUMERIC if draw < numeric_share else CODE_MIXED
        sentence = rng.choice(pool)
        parts.append(sentence)
        size += len(sentence.encode()) + 1
    return " ".join(parts)


def load_table() -> list[tuple[str, str]]:
    """The hand-checked (input, expected) pairs of tests/text/test_normalize_table.py."""
    spec = importlib.util.spec_from_file_location("text_table", TABLE_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.TABLE)


_SPACES = re.compile(r"\s+")
_NOT_LETTERS = re.compile(r"[\s\W_]+")


def canonical(s: str) -> str:
    """NFC (so the nukta form does not matter) with whitespace collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", s)).strip()


def lenient(s: str) -> str:
    """Also ignoring spaces and punctuation: 'দশ টা' counts as 'দশটা'."""
    return _NOT_LETTERS.sub("", unicodedata.normalize("NFC", s))


_NUMBER_ONLY = re.compile(r"^[-−]?[0-9০-৯][0-9০-৯,]*(?:\.[0-9০-৯]+)?$")
_TO_ASCII = str.maketrans("০১২৩৪৫৬৭৮৯−", "0123456789-")


def _num2words_number(text: str) -> str:
    from num2words import num2words

    value = text.translate(_TO_ASCII).replace(",", "")
    return str(num2words(float(value) if "." in value else int(value), lang="bn"))


def _num2words_text(text: str) -> str:
    from num2words import num2words

    return re.sub(r"[0-9]+", lambda m: str(num2words(int(m.group()), lang="bn")), text.translate(_TO_ASCII))


def normalizers() -> dict[str, Callable[[str], str]]:
    """Every normalizer under test, as text -> text (None where the package is not installed)."""
    out: dict[str, Callable[[str], str]] = {"ours": normalize_bangla_text}
    try:
        import bangla_normalizer

        out["bangla-normalizer"] = bangla_normalizer.normalize_text
    except ImportError:
        pass
    try:
        from bangla_text_normalizer import BanglaTextNormalizer

        out["bangla-text-normalizer"] = BanglaTextNormalizer().normalize
    except ImportError:
        pass
    try:
        import pybangla

        pb = pybangla.Normalizer()
        out["pybangla"] = lambda s: pb.text_normalizer(s, all_operation=True)
    except ImportError:
        pass
    try:
        import bnnumerizer

        out["bnnumerizer"] = bnnumerizer.numerize
    except ImportError:
        pass
    try:
        import num2words  # noqa: F401

        out["num2words (bn)"] = _num2words_text
    except ImportError:
        pass
    return out


def _safe(fn: Callable[[str], str], text: str) -> str | None:
    try:
        return fn(text)
    except Exception:  # a reference that crashes on an input gets that row wrong
        return None


def score(name: str, fn: Callable[[str], str], table: list[tuple[str, str]]) -> dict[str, Any]:
    exact = loose = errors = 0
    number_rows = number_right = 0
    for raw, expected in table:
        is_number = bool(_NUMBER_ONLY.match(raw))
        got = _safe(_num2words_number if name.startswith("num2words") and is_number else fn, raw)
        if got is None:
            errors += 1
            continue
        right = canonical(got) == canonical(expected)
        exact += right
        loose += lenient(got) == lenient(expected)
        if is_number:
            number_rows += 1
            number_right += right
    return {
        "table_rows": len(table),
        "exact": exact,
        "exact_share": exact / len(table),
        "lenient_share": loose / len(table),
        "errors": errors,
        "number_rows": number_rows,
        "number_share": number_right / number_rows if number_rows else None,
    }


def throughput(fn: Callable[[str], str], paragraphs: list[str], size: int, repeats: int) -> dict[str, Any]:
    """MB/s of UTF-8 input on one core, best of `repeats`; paragraphs that raise are counted."""
    best = float("inf")
    failures = 0
    for _ in range(repeats):
        failures = 0
        start = time.perf_counter()
        for p in paragraphs:
            if _safe(fn, p) is None:
                failures += 1
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "mb_per_s": size / 1e6 / best, "failed_paragraphs": failures}


def english_data_cost() -> dict[str, float]:
    """What reading the English word lists costs a fresh process: the first lookup loads them."""
    from function.text import english

    tracemalloc.start()
    start = time.perf_counter()
    english.loanwords()
    english.CMU.get("facebook")
    seconds = time.perf_counter() - start
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"load_ms": seconds * 1000, "kept_mb": kept / 1e6, "peak_mb": peak / 1e6}


def main() -> None:
    data_cost = english_data_cost()  # first: nothing has loaded the lists yet
    text = news_text()
    size = len(text.encode())
    # Everyone gets the same ~1 MB as paragraphs of 20 sentences (a request-sized piece).
    sentences = text.split(" ")
    words_per_paragraph = 200
    paragraphs = [
        " ".join(sentences[i : i + words_per_paragraph])
        for i in range(0, len(sentences), words_per_paragraph)
    ]
    table = load_table()
    rows: dict[str, dict[str, Any]] = {}
    for name, fn in normalizers().items():
        repeats = 3  # best of three: the machine may be shared
        # Some references print debugging lines for every match; keep the table readable.
        with contextlib.redirect_stdout(io.StringIO()):
            rows[name] = {**score(name, fn, table), **throughput(fn, paragraphs, size, repeats)}
    start = time.perf_counter()
    normalized = normalize_bangla_text(text)
    whole_text_s = time.perf_counter() - start
    start = time.perf_counter()
    chunks = split_sentences(normalized, 200)
    split_s = time.perf_counter() - start

    print(
        f"text: {size / 1e6:.2f} MB news-style Bangla, {len(paragraphs)} paragraphs; table: {len(table)} rows"
    )
    print(f"{'normalizer':<24}{'MB/s':>8}{'table exact':>13}{'lenient':>9}{'numbers':>9}{'errors':>8}")
    for name, r in rows.items():
        numbers = f"{r['number_share']:.0%}" if r["number_share"] is not None else "-"
        print(
            f"{name:<24}{r['mb_per_s']:>8.2f}{r['exact_share']:>13.1%}{r['lenient_share']:>9.1%}"
            f"{numbers:>9}{r['errors']:>8}"
        )
    print(f"ours on the whole text in one call: {size / 1e6 / whole_text_s:.2f} MB/s")
    print(
        f"English word lists, first lookup: {data_cost['load_ms']:.0f} ms, "
        f"{data_cost['kept_mb']:.1f} MB kept ({data_cost['peak_mb']:.1f} MB peak)"
    )
    split_mb_s = len(normalized.encode()) / 1e6 / split_s
    print(f"split_sentences(max_chars=200): {len(chunks)} chunks, {split_mb_s:.1f} MB/s")
    path = write_result(
        "text-frontend",
        {
            "text_bytes": size,
            "paragraphs": len(paragraphs),
            "table_rows": len(table),
            "normalizers": rows,
            "ours_whole_text_mb_per_s": size / 1e6 / whole_text_s,
            "english_data": data_cost,
            "split_sentences_mb_per_s": split_mb_s,
            "chunks": len(chunks),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
