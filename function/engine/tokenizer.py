"""XTTS text tokenization, as coqui-tts's VoiceBpeTokenizer.encode does it, without torch.

For the languages coqui-tts cleans itself we apply the same cleaners (quotes dropped, lower case,
abbreviations and symbols spelled out, whitespace collapsed); numbers are the text front-end's job.
Languages coqui-tts does not know (such as `bn`) get the same encoding with no language cleaner.
"""

from __future__ import annotations

import re
from pathlib import Path

from tokenizers import Tokenizer

from function.engine.errors import TextError, UnsupportedLanguageError

_CLEANED_LANGUAGES = {
    "ar",
    "cs",
    "de",
    "en",
    "es",
    "fr",
    "hi",
    "hu",
    "it",
    "nl",
    "pl",
    "pt",
    "ru",
    "tr",
    "zh",
    "ko",
}

_EN_ABBREVIATIONS = [
    (re.compile(rf"\b{abbr}\.", re.IGNORECASE), full)
    for abbr, full in [
        ("mrs", "misess"),
        ("mr", "mister"),
        ("dr", "doctor"),
        ("st", "saint"),
        ("co", "company"),
        ("jr", "junior"),
        ("maj", "major"),
        ("gen", "general"),
        ("drs", "doctors"),
        ("rev", "reverend"),
        ("lt", "lieutenant"),
        ("hon", "honorable"),
        ("sgt", "sergeant"),
        ("capt", "captain"),
        ("esq", "esquire"),
        ("ltd", "limited"),
        ("col", "colonel"),
        ("ft", "fort"),
    ]
]
_EN_SYMBOLS = [
    ("&", " and "),
    ("@", " at "),
    ("%", " percent "),
    ("#", " hash "),
    ("$", " dollar "),
    ("£", " pound "),
    ("°", " degree "),
]
_WHITESPACE = re.compile(r"\s+")


def _clean(text: str, lang: str) -> str:
    text = text.replace('"', "")
    if lang == "tr":
        text = text.replace("İ", "i").replace("Ö", "ö").replace("Ü", "ü")
    text = text.lower()
    if lang == "en":
        for regex, full in _EN_ABBREVIATIONS:
            text = regex.sub(full, text)
        for symbol, word in _EN_SYMBOLS:
            text = text.replace(symbol, word).replace("  ", " ")
        text = text.strip()
    return _WHITESPACE.sub(" ", text)


class XttsTokenizer:
    def __init__(self, vocab_path: Path, languages: list[str], max_text_tokens: int) -> None:
        self._tok = Tokenizer.from_file(str(vocab_path))
        self._vocab = self._tok.get_vocab()
        self.languages = [lang for lang in languages if f"[{self._token_lang(lang)}]" in self._vocab]
        self.max_text_tokens = max_text_tokens

    @staticmethod
    def _token_lang(lang: str) -> str:
        lang = lang.split("-", maxsplit=1)[0]
        return "zh-cn" if lang == "zh" else lang

    def check_language(self, lang: str) -> str:
        base = lang.split("-", maxsplit=1)[0]
        for known in self.languages:
            if known.split("-")[0] == base:
                return base
        raise UnsupportedLanguageError(
            f"language {lang!r} is not supported by this model; supported: {', '.join(self.languages)}"
        )

    def encode(self, text: str, lang: str) -> list[int]:
        lang = self.check_language(lang)
        text = text.strip().lower()
        if lang in _CLEANED_LANGUAGES:
            text = _clean(text, lang)
        text = f"[{self._token_lang(lang)}]{text}".replace(" ", "[SPACE]")
        ids: list[int] = self._tok.encode(text).ids
        if len(ids) >= self.max_text_tokens:
            raise TextError(
                f"a text piece encodes to {len(ids)} tokens, "
                f"the model accepts fewer than {self.max_text_tokens}: "
                "send shorter sentences"
            )
        return ids

    def nukta_form(self) -> str:
        """Which form of য় ড় ঢ় the vocab was trained on: 'composed' (U+09DF...) or 'decomposed' (base + ়)."""
        composed = sum(1 for t in self._vocab if any(c in t for c in "\u09dc\u09dd\u09df"))
        decomposed = sum(1 for t in self._vocab if "\u09bc" in t)
        return "composed" if composed > decomposed else "decomposed"
