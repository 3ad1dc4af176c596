"""split_sentences(): chunks for the synthesiser, each within its character limit, nothing lost."""

from __future__ import annotations

from function.text.graphemes import cut_word
from function.text.lexicon import ABBREVIATIONS

_TERMINAL = frozenset("।?!")
_CLAUSE = frozenset(",;:")
_CLOSERS = "'\")]"
_DASHES = frozenset({"-", "—", "–"})


def ends_sentence(token: str, first_in_sentence: bool) -> bool:
    """Whether a whitespace-delimited token ends a sentence (never a decimal, abbreviation or initial)."""
    core = token.rstrip(_CLOSERS)
    if not core:
        return False
    last = core[-1]
    if last in _TERMINAL:
        return True
    if last != ".":
        return False
    word = core[:-1]
    if not word or "." in word or word in ABBREVIATIONS or word.rstrip("ঃ") in ABBREVIATIONS:
        return False  # ..., বি.এ., ডা., Dr.
    if len(word) == 1 and word.isalpha():
        return False  # an initial: A. Rahman
    # "১. প্রথম কথা": a numbered item, not a sentence that ends in a number.
    return not (first_in_sentence and word.isdecimal())


def ends_clause(token: str) -> bool:
    core = token.rstrip(_CLOSERS)
    return bool(core) and (core[-1] in _CLAUSE or core in _DASHES)


def _pack(units: list[list[str]], max_chars: int) -> list[list[str]]:
    """Greedily put consecutive units (lists of words) into chunks of at most max_chars."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for unit in units:
        unit_size = len(" ".join(unit))
        if current and size + 1 + unit_size <= max_chars:
            current.extend(unit)
            size += 1 + unit_size
        else:
            if current:
                chunks.append(current)
            current, size = list(unit), unit_size
    if current:
        chunks.append(current)
    return chunks


def _split_long(sentence: list[str], max_chars: int) -> list[str]:
    clauses: list[list[str]] = [[]]
    for word in sentence:
        clauses[-1].append(word)
        if ends_clause(word):
            clauses.append([])
    out: list[str] = []
    for chunk in _pack([c for c in clauses if c], max_chars):
        text = " ".join(chunk)
        if len(text) <= max_chars:
            out.append(text)
            continue
        # One clause longer than the limit: between words, and a word longer than it is cut.
        words = [[piece] for word in chunk for piece in cut_word(word, max_chars)]
        out.extend(" ".join(c) for c in _pack(words, max_chars))
    return out


def split_sentences(text: str, max_chars: int) -> list[str]:
    """Split at দাঁড়ি, ? ! and full stops (never inside a number, decimal or abbreviation), then,
    for a sentence longer than max_chars, at clause punctuation, then between words.

    Every chunk has 1..max_chars characters, and " ".join(chunks) is the text with its whitespace
    collapsed to single spaces: for normalize_bangla_text() output, exactly the text, provided
    max_chars >= MAX_WORD_CHARS (a longer word is otherwise cut and the join adds a space)."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    sentences: list[list[str]] = []
    current: list[str] = []
    for token in text.split():
        current.append(token)
        if ends_sentence(token, len(current) == 1):
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    chunks: list[str] = []
    for sentence in sentences:
        joined = " ".join(sentence)
        if len(joined) <= max_chars:
            chunks.append(joined)
        else:
            chunks.extend(_split_long(sentence, max_chars))
    return chunks
