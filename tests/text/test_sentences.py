"""split_sentences: where the synthesiser's chunks begin and end."""

import pytest

from function.text import normalize_bangla_text, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("আমি ভাত খাই। তুমি কী খাও? চমৎকার!", ["আমি ভাত খাই।", "তুমি কী খাও?", "চমৎকার!"]),
        ("He came. She left.", ["He came.", "She left."]),
        # never inside a decimal, an abbreviation or a numbered item (raw text)
        ("দাম ২.৫ টাকা। ঠিক আছে।", ["দাম ২.৫ টাকা।", "ঠিক আছে।"]),
        ("ডা. রহিম এসেছেন। মো. করিম যাননি।", ["ডা. রহিম এসেছেন।", "মো. করিম যাননি।"]),
        ("Dr. Rahman came. Mr. Karim left.", ["Dr. Rahman came.", "Mr. Karim left."]),
        ("বি.এ. পাস করেছে। ভালো।", ["বি.এ. পাস করেছে।", "ভালো।"]),
        ("১. প্রথম কথা। ২. দ্বিতীয় কথা।", ["১. প্রথম কথা।", "২. দ্বিতীয় কথা।"]),
        ("A. Rahman এসেছেন।", ["A. Rahman এসেছেন।"]),
        ('সে বলল, "যাব।" তারপর গেল।', ['সে বলল, "যাব।"', "তারপর গেল।"]),
        ("", []),
        ("   ", []),
    ],
)
def test_sentence_boundaries(text: str, expected: list[str]) -> None:
    assert split_sentences(text, 200) == expected


def test_long_sentence_splits_at_clause_punctuation_first() -> None:
    text = "প্রথম অংশটি বেশ লম্বা, দ্বিতীয় অংশটিও বেশ লম্বা; তৃতীয় অংশটি শেষ।"
    assert split_sentences(text, 30) == ["প্রথম অংশটি বেশ লম্বা,", "দ্বিতীয় অংশটিও বেশ লম্বা;", "তৃতীয় অংশটি শেষ।"]


def test_clauses_are_packed_while_they_fit() -> None:
    text = "এক, দুই, তিন, চার, পাঁচ, ছয়, সাত।"
    chunks = split_sentences(text, 16)
    assert chunks == ["এক, দুই, তিন,", "চার, পাঁচ, ছয়,", "সাত।"]


def test_a_clause_longer_than_the_limit_splits_between_words() -> None:
    text = " ".join(["শব্দ"] * 30) + "।"
    chunks = split_sentences(text, 40)
    assert all(len(c) <= 40 for c in chunks)
    assert " ".join(chunks) == text
    assert all(not c.startswith(" ") and "শব্দ" in c for c in chunks)


def test_a_word_longer_than_the_limit_is_cut_between_letters() -> None:
    word = "কি" * 30  # 60 characters: each piece must not start with the vowel sign
    chunks = split_sentences(word, 25)
    assert all(len(c) <= 25 for c in chunks)
    assert "".join(chunks) == word
    assert all(not c.startswith("ি") for c in chunks)


def test_engine_contract_on_normalized_news_text() -> None:
    raw = (
        "ডা. মো. রফিকুল ইসলাম ১৬/১২/১৯৭১ তারিখে জন্মগ্রহণ করেন। তিনি ৳৫,০০,০০০.৫০ দান করেছেন, "
        "যা ২০২৪ সালে ৫০% বেড়েছে; এ কথা জানিয়েছে BTRC। ফোন: ০১৭১২৩৪৫৬৭৮।"
    )
    normalized = normalize_bangla_text(raw)
    chunks = split_sentences(normalized, 60)
    assert " ".join(chunks) == normalized
    assert all(len(c) <= 60 for c in chunks)
    assert chunks == [
        "ডাক্তার মোহাম্মদ রফিকুল ইসলাম ষোলোই ডিসেম্বর উনিশশো একাত্তর",
        "তারিখে জন্মগ্রহণ করেন।",
        "তিনি পাঁচ লক্ষ টাকা পঞ্চাশ পয়সা দান করেছেন,",
        "যা দুই হাজার চব্বিশ সালে পঞ্চাশ শতাংশ বেড়েছে;",
        "এ কথা জানিয়েছে বিটিআরসি।",
        "ফোন: শূন্য এক সাত এক দুই, তিন চার পাঁচ, ছয় সাত আট।",
    ]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("আমি", 0)
