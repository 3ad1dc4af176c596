"""SSML in, the parts to speak out: text with its speed and language, and the silence between.

Parsed by defusedxml (no DTD, no entities, no external references: a billion-laughs or external-entity
document is refused before anything is expanded); every error names the line and column. What each
element does is in docs/serving-api.md ("SSML").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.sax.saxutils import escape as xml_escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from function.text.say_as import SayAsError, say_as

MAX_DEPTH = 32  # nested elements
MAX_BREAK_SECONDS = 10.0  # one <break> (Google and Amazon Polly cap it there too)
MAX_TOTAL_BREAK_SECONDS = 60.0  # all of a document's breaks
RATE_RANGE = (0.25, 4.0)  # a <prosody rate>, relative to the request's speed
# <break strength>: none and x-weak add nothing to the piece boundary; medium is a comma's pause.
BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.0, "weak": 0.25, "medium": 0.4, "strong": 0.75, "x-strong": 1.2}
# <prosody rate> words, as Azure's neural voices take them (x-slow is half speed, x-fast double).
RATE_WORDS = {"x-slow": 0.5, "slow": 0.64, "medium": 1.0, "default": 1.0, "fast": 1.55, "x-fast": 2.0}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_TIME = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)")
_RATE = re.compile(r"(?P<sign>[+-]?)(?P<n>\d+(?:\.\d+)?)(?P<pct>%?)")
_BOUNDARIES = frozenset({"p", "s", "paragraph", "sentence"})
_REFUSED = {
    "phoneme": 'this model reads letters, not phonemes: write how the word sounds with <sub alias="…">, '
    "or add it to a pronunciation dictionary",
    "audio": "<audio> is not supported: this service makes speech only; join recorded audio after synthesis",
}


class SsmlError(ValueError):
    """The document cannot be read; the message names the line and column."""


@dataclass(frozen=True)
class Part:
    text: str  # as written (the front-end reads it next); empty: only the pause
    rate: float = 1.0  # times the request's speed
    language: str | None = None  # a primary language subtag ("en"); None: the request's
    pause_after: float = 0.0  # seconds of silence after the text


def is_ssml(text: str) -> bool:
    """Input is SSML when it starts with a <speak> element, or with an XML declaration or doctype
    (which the parser then judges)."""
    return re.match(r"\s*(?:<speak[\s>/]|<\?xml\s|<!DOCTYPE\s)", text) is not None


_BREAK_TAG = re.compile(r"<break\b(?P<attrs>[^<>]*)/>", re.IGNORECASE)


def inline_breaks(text: str) -> str | None:
    """Plain text with <break …/> tags in it (as ElevenLabs and others take them, no <speak>) as an
    SSML document, the rest of the text escaped; None when the text has no such tag."""
    if is_ssml(text) or _BREAK_TAG.search(text) is None:
        return None
    pieces, end = [], 0
    for m in _BREAK_TAG.finditer(text):
        pieces += [xml_escape(text[end : m.start()]), f"<break{m['attrs']}/>"]
        end = m.end()
    return "<speak>" + "".join(pieces) + xml_escape(text[end:]) + "</speak>"


def parse_ssml(document: str) -> list[Part]:
    """The document's parts in order: a new part at each <p>, <s>, <break> and change of speed or
    language. Raises SsmlError for what cannot be read, or what this model cannot do."""
    builder = _PositionedBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(document)
        root = parser.close()
    except ParseError as exc:
        line, column = exc.position
        raise SsmlError(
            f"SSML is not well-formed XML: line {line}, column {column + 1}: {_reason(exc)}"
        ) from None
    except DefusedXmlException:
        raise SsmlError(
            "SSML may not hold a DTD, entity declarations or external references (<!DOCTYPE>, <!ENTITY>)"
        ) from None
    if _local(root.tag) != "speak":
        raise SsmlError(
            f"{builder.where(root)}: the document's root must be <speak>, not <{_local(root.tag)}>"
        )
    reader = _Reader(builder)
    reader.element(root, _Style(1.0, _language(root, None, builder)), depth=0)
    return reader.finish()


def _reason(exc: ParseError) -> str:
    return re.sub(r":? line \d+, column \d+$", "", str(exc))


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


class _PositionedBuilder(TreeBuilder):
    """A tree builder that remembers where each element starts, for error messages."""

    parser: Any = None

    def __init__(self) -> None:
        super().__init__()
        self.positions: dict[int, tuple[int, int]] = {}

    def start(self, tag: Any, attrs: dict[str, str]) -> Element:
        element = super().start(tag, attrs)
        expat = self.parser.parser
        self.positions[id(element)] = (expat.CurrentLineNumber, expat.CurrentColumnNumber + 1)
        return element

    def where(self, element: Element) -> str:
        line, column = self.positions.get(id(element), (0, 0))
        return f"line {line}, column {column}"


@dataclass(frozen=True)
class _Style:
    rate: float
    language: str | None


def _language(element: Element, inherited: str | None, builder: _PositionedBuilder) -> str | None:
    tag = element.get(_XML_LANG)
    if tag is None:
        return inherited
    primary = tag.split("-")[0].lower()
    if not re.fullmatch(r"[a-z]{2,3}", primary):
        raise SsmlError(f'{builder.where(element)}: xml:lang="{tag}" is not a language tag (bn-BD, en-US)')
    return None if primary == "bn" else primary


class _Reader:
    def __init__(self, builder: _PositionedBuilder) -> None:
        self.builder = builder
        self.parts: list[Part] = []
        self.words: list[str] = []
        self.style = _Style(1.0, None)
        self.paused = 0.0

    # -- output ------------------------------------------------------------------------------
    def text(self, text: str | None, style: _Style) -> None:
        if not text:
            return
        if style != self.style and text.strip():
            self.boundary()
            self.style = style
        self.words.append(text)

    def boundary(self) -> None:
        text = " ".join("".join(self.words).split())  # XML whitespace: any run is one space
        if text:
            self.parts.append(Part(text, self.style.rate, self.style.language))
        self.words = []

    def pause(self, seconds: float, element: Element) -> None:
        self.boundary()
        self.paused += seconds
        if self.paused > MAX_TOTAL_BREAK_SECONDS:
            raise SsmlError(
                f"{self.builder.where(element)}: the breaks add up to more than "
                f"{MAX_TOTAL_BREAK_SECONDS:g} s; split the text into several requests"
            )
        if self.parts:
            last = self.parts[-1]
            self.parts[-1] = replace(last, pause_after=last.pause_after + seconds)
        elif seconds:
            self.parts.append(Part("", pause_after=seconds))

    def finish(self) -> list[Part]:
        self.boundary()
        return self.parts

    # -- elements ----------------------------------------------------------------------------
    def element(self, element: Element, style: _Style, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise SsmlError(f"{self.builder.where(element)}: elements nest more than {MAX_DEPTH} deep")
        name = _local(element.tag)
        where = self.builder.where(element)
        if name in _REFUSED:
            raise SsmlError(f"{where}: {_REFUSED[name]}")
        if name == "break":
            self.pause(self._break_seconds(element, where), element)
        elif name == "sub":
            alias = element.get("alias")
            if alias is None:
                raise SsmlError(f'{where}: <sub> needs alias="…", the words to say instead')
            self.text(alias, style)
        elif name == "say-as":
            self._say_as(element, style, where)
        else:
            if name in _BOUNDARIES:
                self.boundary()
            inner = _Style(
                self._rate(element, style, where), _language(element, style.language, self.builder)
            )
            self.text(element.text, inner)
            for child in element:
                self.element(child, inner, depth + 1)
                self.text(child.tail, inner)
            if name in _BOUNDARIES:
                self.boundary()

    def _say_as(self, element: Element, style: _Style, where: str) -> None:
        kind = element.get("interpret-as")
        if kind is None:
            raise SsmlError(f'{where}: <say-as> needs interpret-as="…" (characters, cardinal, date, …)')
        content = "".join(element.itertext())
        if style.language is not None:  # another language reads its own numbers
            self.text(content, style)
            return
        try:
            self.text(say_as(kind, content, element.get("format")), style)
        except SayAsError as exc:
            raise SsmlError(f"{where}: {exc}") from None

    @staticmethod
    def _break_seconds(element: Element, where: str) -> float:
        time, strength = element.get("time"), element.get("strength")
        if time is not None:
            m = _TIME.fullmatch(time.strip())
            if m is None:
                raise SsmlError(f'{where}: <break time="{time}"> is not a time: write it as 700ms or 1.5s')
            seconds = float(m["n"]) / (1000 if m["unit"] == "ms" else 1)
            if seconds > MAX_BREAK_SECONDS:
                raise SsmlError(f"{where}: a break is at most {MAX_BREAK_SECONDS:g} s, not {seconds:g} s")
            return seconds
        if strength is not None:
            if strength not in BREAK_STRENGTHS:
                raise SsmlError(
                    f'{where}: <break strength="{strength}"> is not one of {", ".join(BREAK_STRENGTHS)}'
                )
            return BREAK_STRENGTHS[strength]
        return BREAK_STRENGTHS["medium"]

    @staticmethod
    def _rate(element: Element, style: _Style, where: str) -> float:
        rate = element.get("rate") if _local(element.tag) == "prosody" else None
        if rate is None:
            return style.rate
        value = rate.strip().lower()
        factor = RATE_WORDS.get(value)
        if factor is None and (m := _RATE.fullmatch(value)):
            n = float(m["n"])
            if m["sign"]:  # +10%, -20% (or +0.1): relative to the speed around it
                factor = 1 + (n / 100 if m["pct"] else n) * (-1 if m["sign"] == "-" else 1)
            else:  # 80% or 0.8: that share of normal speed
                factor = n / 100 if m["pct"] else n
        slowest, fastest = RATE_RANGE
        if factor is None or not slowest <= factor <= fastest:
            raise SsmlError(
                f'{where}: <prosody rate="{rate}"> is not a speed from {slowest:g} to {fastest:g} '
                f"times normal: use {', '.join(RATE_WORDS)}, a percentage (80%, +10%) or a number (1.2)"
            )
        return style.rate * factor
