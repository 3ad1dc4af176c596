"""The user lexicon (TTS_LEXICON_PATH): its format, its errors (each naming the line), and how its
entries are matched and kept."""

import pytest

from function.text import normalize_bangla_text
from function.text.user_lexicon import UserLexicon
from function.text.word_list import WordListError

SOURCE = "TTS_LEXICON_PATH=gs://newsroom/lexicon.tsv"


def lexicon(text: str) -> UserLexicon:
    return UserLexicon.from_bytes(text.encode(), SOURCE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Yunus\tইউনূস\nBBC বিবিসি\n", "line 2: expected the word, one tab, then how to say it; found 1 "),
        ("Yunus\tইউনূস\tমুহাম্মদ\n", "line 1: expected the word, one tab, then how to say it; found 3 "),
        ("\tইউনূস\n", "line 1: '' is not one word"),
        ("Muhammad Yunus\tমুহাম্মদ ইউনূস\n", "line 1: 'Muhammad Yunus' is not one word"),
        ("Coca-Cola\tকোকা-কোলা\n", "line 1: 'Coca-Cola' is not one word"),
        ("Yunus\t  \n", "line 1: the spoken form is empty"),
        ("COVID\tকোভিড ১৯\n", "line 1: the spoken form has '1' .*write numbers in words"),
        ("BBC\tবিবিসি!\n", "line 1: the spoken form has '!' .*which the model cannot read"),
        ("# names\nyunus\tইউনূস\nYunus\tইউনুস\n", r"line 3: 'Yunus' is given again \(first on line 2\)"),
        ("Yunus\tইউনূস\nইউনূস\tমুহাম্মদ ইউনূস\n", "line 1: the spoken form contains 'ইউনূস', which line 2 reads as"),
    ],
)
def test_a_bad_line_is_named_by_its_number(text: str, message: str) -> None:
    with pytest.raises(WordListError, match=f"^{SOURCE}: {message}"):
        lexicon(text)


def test_a_file_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(WordListError, match=f"^{SOURCE}: not UTF-8 text"):
        UserLexicon.from_bytes("Yunus\tইউনূস\n".encode("utf-16"), SOURCE)


def test_comments_blank_lines_crlf_and_a_byte_order_mark_are_fine() -> None:
    lex = UserLexicon.from_bytes("\ufeff# newsroom names\r\n\r\nYunus\tইউনূস\r\n".encode(), SOURCE)
    assert len(lex) == 1
    assert normalize_bangla_text("Yunus বলেন", lexicon=lex) == "ইউনূস বলেন"


def test_an_entry_wins_over_every_rule_and_matches_whole_words() -> None:
    lex = lexicon(
        "UN\tজাতিসংঘ\nyunus\tইউনূস\nডা.\tডাক্তার সাহেব\nঢাবি\tঢাকা বিশ্ববিদ্যালয়\nbdnews\tবিডি নিউজ\nCOVID\tকরোনা\n"
    )
    cases = {
        "UN মহাসচিব": "জাতিসংঘ মহাসচিব",  # not the acronym's letters
        "YUNUS, Yunus ও yunus": "ইউনূস, ইউনূস ও ইউনূস",  # a lower-case entry: any capitalisation
        "Yunus's বক্তব্য": "ইউনূসস বক্তব্য",
        "ডা. রহিম": "ডাক্তার সাহেব রহিম",  # over the built-in ডাক্তার
        "ঢাবি ও ঢাবির ছাত্র": "ঢাকা বিশ্ববিদ্যালয় ও ঢাবির ছাত্র",  # ঢাবির is another word
        "bdnews24.com": "বিডি নিউজ চব্বিশ ডট কম",  # a word of an address, over the built-in list
        "COVID19 টিকা": "করোনা উনিশ টিকা",  # a number glued to the word stays apart
    }
    for raw, expected in cases.items():
        assert normalize_bangla_text(raw, lexicon=lex) == expected, raw
    # An entry in capitals (an acronym) matches only as written.
    assert "জাতিসংঘ" not in normalize_bangla_text("un", lexicon=lex)
    assert "ইউনূস" not in normalize_bangla_text("Yunuss", lexicon=lex)


def test_latin_spoken_forms_stay_latin_and_read_the_same_again() -> None:
    lex = lexicon("XTTS\tXTTS\nbkash\tbKash\n")
    out = normalize_bangla_text("XTTS দিয়ে bkash এ টাকা পাঠান।", lexicon=lex)
    assert out == "XTTS দিয়ে bKash এ টাকা পাঠান।"
    assert normalize_bangla_text(out, lexicon=lex) == out
    # Without the lexicon every Latin word is read in Bangla letters.
    assert normalize_bangla_text("XTTS দিয়ে bkash এ") == "এক্সটিটিএস দিয়ে বিকাশ এ"
