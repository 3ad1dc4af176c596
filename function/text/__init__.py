"""Bangla text front-end: normalize_bangla_text() and split_sentences(); pure Python, no model."""

from function.text.chars import spoken_chars
from function.text.normalize import ALLOWED_PUNCTUATION, MAX_WORD_CHARS, normalize_bangla_text
from function.text.sentences import split_sentences
from function.text.user_lexicon import UserLexicon
from function.text.word_list import WordListError

__all__ = [
    "ALLOWED_PUNCTUATION",
    "MAX_WORD_CHARS",
    "UserLexicon",
    "WordListError",
    "normalize_bangla_text",
    "split_sentences",
    "spoken_chars",
]
