"""An English word's CMU Pronouncing Dictionary phonemes (ARPAbet) -> the Bangla spelling a Bangladeshi
writer gives it: ফেসবুক, মাইক্রোসফট, ইউনিভার্সিটি, কম্পিউটার, ইন্টারনেট.

The conventions are the Bangladeshi press's for English loanwords, which came through British
English: a stressed "u" (bus, club) is আ, the "o" of hot and doctor is the inherent vowel অ, English
t and d are ট and ড, th is থ or দ. Where the phonemes cannot tell (the schwa of problem, computer,
China; the "o" of hot against the "a" of father, both AA in American English), the spelling
decides, so every vowel phoneme is first aligned with the vowel letters of the word.
"""

from __future__ import annotations

import unicodedata

VOWELS = frozenset(("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"))
_CONSONANTS = {
    "B": "ব",
    "CH": "চ",
    "D": "ড",
    "DH": "দ",
    "F": "ফ",
    "G": "গ",
    "HH": "হ",
    "JH": "জ",
    "K": "ক",
    "L": "ল",
    "M": "ম",
    "N": "ন",
    "P": "প",
    "R": "র",
    "S": "স",
    "SH": "শ",
    "T": "ট",
    "TH": "থ",
    "V": "ভ",
    "Z": "জ",
    "ZH": "জ",
}
VIRAMA = "\u09cd"
ZWJ = "\u200d"
YA = unicodedata.normalize("NFC", "য়")

# --- aligning vowel phonemes with vowel letters ---------------------------------------------------

_INF = 1e9


def _is_vowel_letter(word: str, i: int) -> bool:
    c = word[i]
    if c in "aeio":
        return True
    if c == "u":
        return not (i > 0 and word[i - 1] == "q")  # the u of "qu" is the w sound
    if c == "y":  # a vowel unless it starts the word or a syllable (yes, player)
        return i > 0 and not (i + 1 < len(word) and word[i + 1] in "aeiou")
    return False


def vowel_groups(word: str) -> list[tuple[int, int]]:
    """Runs of vowel letters (with a w that closes one: new, show, law), as (start, end)."""
    groups = []
    i, n = 0, len(word)
    while i < n:
        if not _is_vowel_letter(word, i):
            i += 1
            continue
        j = i + 1
        while j < n and (
            _is_vowel_letter(word, j) or (word[j] == "w" and not (j + 1 < n and word[j + 1] in "aeiouy"))
        ):
            j += 1
        groups.append((i, j))
        i = j
    return groups


def _consonant_at(word: str, i: int) -> bool:
    return 0 <= i < len(word) and word[i].isalpha() and not _is_vowel_letter(word, i)


def _skip_cost(word: str, start: int, end: int) -> tuple[float, float]:
    """(cost of a silent group, cost of matching it) for a lone "e": silent at the end (make), before
    a final s or d (makes, named), or, less likely, between consonants (statement)."""
    if word[start:end] != "e" or not _consonant_at(word, start - 1):
        return _INF, 0.0
    tail = word[end:]
    if tail == "" and word[start - 1] == "l" and _consonant_at(word, start - 2):
        return 0.0, 3.0  # google, people, table: the e is silent and the schwa before l unwritten
    if tail in ("", "s", "d"):
        return 1.0, 0.0
    if _consonant_at(word, end):
        return 2.0, 0.0
    return _INF, 0.0


def align(word: str, phones: list[str]) -> tuple[dict[int, str], set[int]]:
    """For each vowel phoneme's index, the vowel letters it is spelled with (where the alignment is
    clear), and the indexes of the silent groups. Cheapest alignment: a group may be silent (a lone
    e), a schwa may be unwritten, a group of two or more letters may spell two vowels (India, idea)."""
    groups = vowel_groups(word)
    vowels = [i for i, p in enumerate(phones) if p.rstrip("012") in VOWELS]
    g, v = len(groups), len(vowels)
    costs = [_skip_cost(word, s, e) for s, e in groups]
    dp = [[_INF] * (v + 1) for _ in range(g + 1)]
    back: list[list[tuple[int, int, str]]] = [[(0, 0, "")] * (v + 1) for _ in range(g + 1)]
    dp[0][0] = 0.0
    for i in range(g + 1):
        for j in range(v + 1):
            here = dp[i][j]
            if here >= _INF:
                continue
            steps: list[tuple[int, int, float, str]] = []
            if i < g and j < v:
                steps.append((i + 1, j + 1, costs[i][1], "match"))
                if groups[i][1] - groups[i][0] >= 2 and j + 1 < v:
                    steps.append((i + 1, j + 2, 1.0, "split"))
            if i < g:
                steps.append((i + 1, j, costs[i][0], "silent"))
            if j < v:
                unwritten = phones[vowels[j]] in ("AH0", "ER0", "IH0")
                steps.append((i, j + 1, 2.0 if unwritten else 4.0, "unwritten"))
            for ni, nj, cost, kind in steps:
                if here + cost < dp[ni][nj]:
                    dp[ni][nj] = here + cost
                    back[ni][nj] = (i, j, kind)
    spelled: dict[int, str] = {}
    silent: set[int] = set()
    if dp[g][v] >= _INF:
        return spelled, silent
    i, j = g, v
    while i or j:
        pi, pj, kind = back[i][j]
        if kind == "match":
            s, e = groups[pi]
            spelled[vowels[pj]] = word[s:e]
        elif kind == "split":
            s, e = groups[pi]
            spelled[vowels[pj]] = word[s]
            spelled[vowels[pj + 1]] = word[s + 1 : e]
        elif kind == "silent":
            silent.add(groups[pi][0])
        i, j = pi, pj
    return spelled, silent


# --- writing --------------------------------------------------------------------------------------


class _Writer:
    """Phoneme by phoneme, tracking whether the last thing written was a consonant (a vowel after it
    is a sign, a consonant after it may join it in a conjunct) or a vowel (a vowel after it is a
    new syllable: য় + sign, or ও / উ)."""

    def __init__(self, word: str, phones: list[str]) -> None:
        self.word = word
        self.base = [p.rstrip("012") for p in phones]
        self.stress = [p[-1] if p[-1].isdigit() else "" for p in phones]
        self.spelled, self.silent = align(word, phones)
        self.out: list[str] = []
        self.last = "start"  # start | C (consonant) | V (vowel) | N (anusvara)
        self.last_cons = ""
        self.chain = 0  # joins in the current conjunct, not counting a reph
        self.opening = True  # no vowel written yet: a cluster here opens the word
        self.weak_ra = False  # the last র is the r of an unstressed ER (inter-net: no reph)
        self.skip = 0  # phonemes a rule has already written

    # -- helpers

    def _is_vowel(self, i: int) -> bool:
        return i < len(self.base) and self.base[i] in VOWELS

    def _spelling(self, i: int) -> str:
        return self.spelled.get(i, "")

    def _joins(self, cur: str, i: int) -> bool:
        """Whether the consonant at i is written in a conjunct with the one before, as the press
        writes English loans: স্কুল, ট্রেন, ক্লাব, ডক্টর, সেন্টার, ফ্রেঞ্চ, কম্পিউটার; but গিফট, অ্যাকশন, প্রবলেম."""
        prev = self.last_cons
        final = i == len(self.base) - 1
        if prev == "র":  # a reph: পার্ক, ওয়ার্ল্ড; not in inter-net, where the r ends the syllable
            return not (self.weak_ra and self._is_vowel(i + 1))
        if self.chain >= 1 and cur not in "রল":
            return False  # টেক্সট, not টেক্স্ট
        if cur == "র":
            return prev in "কগটডপবফথদশসভ"
        if cur == "ল":  # ক্লাব, রিপ্লে; but প্রবলেম, পাবলিক
            stressed = self._is_vowel(i + 1) and self.stress[i + 1] in "12"
            return prev in "কগপবফস" and (self.opening or stressed)
        if prev == "স":
            return cur in "কট" or (cur in "পমন" and self.opening)
        if prev == "ন":  # ড্যান্স, সায়েন্স; but the plural of ফোনস
            if cur in "চজ":
                return self.base[i] in ("CH", "JH")  # ফ্রেঞ্চ, চেঞ্জ; not the plural z of -ns
            return cur in "টডথ" or (cur == "স" and final and self.base[i] == "S")
        if prev == "ম":
            return cur in "পব"
        if prev == "ক":
            return cur == "ট" or (cur == "স" and "x" in self.word)
        if prev == "প":
            return cur == "ট"
        if prev == "ল":
            return cur in "ডটপমক"
        return False

    def consonant(self, letter: str, i: int) -> None:
        if self.last == "C" and self._joins(letter, i):
            if letter in "চজ" and self.out[-1] == "ন":
                self.out[-1] = "ঞ"  # ফ্রেঞ্চ, চেঞ্জ
            if self.last_cons != "র":
                self.chain += 1
            self.out.append(VIRAMA)
        else:
            self.chain = 0
        self.out.append(letter)
        self.last, self.last_cons, self.weak_ra = "C", letter, False

    def _forms(self, i: int) -> tuple[str, str]:
        """(independent letter, sign after a consonant) of the vowel at i."""
        b, s, spelled = self.base[i], self.stress[i], self._spelling(i)
        nxt = self.base[i + 1] if i + 1 < len(self.base) else ""
        if b == "AA":
            return ("অ", "") if "o" in spelled and "a" not in spelled else ("আ", "া")
        if b == "AE":
            # The British broad a of class, last, after (ক্লাস, লাস্ট, আফটার), and a weak one in
            # the second part of a word (প্রোগ্রাম, ইনস্টাগ্রাম, কন্টাক্ট).
            after = self.base[i + 2] if i + 2 < len(self.base) else ""
            broad = nxt in ("S", "F", "TH") and after not in VOWELS
            weak = s != "1" and any(x in ("1", "2") for x in self.stress[:i])
            return ("আ", "া") if broad or weak else ("অ্যা", "্যা")
        if b == "AH":
            return self._schwa(spelled) if s == "0" else ("আ", "া")
        if b == "AO":
            if i > 0 and self.base[i - 1] == "W":
                return "আ", "া"  # ওয়াটার, ওয়াক
            after = self.base[i + 2] if i + 2 < len(self.base) else ""
            if nxt == "R" and i > 0 and after not in ("M", "N"):
                return "ও", "ো"  # স্পোর্টস, রিপোর্ট, স্টোর; but অর্ডার, ফর্ম, কর্নার
            return "অ", ""
        if b == "AW":
            return ("আও", "াও") if self._is_vowel(i + 1) else ("আউ", "াউ")
        if b == "AY":
            return ("আ", "া") if self._is_vowel(i + 1) else ("আই", "াই")
        if b == "ER":
            return ("অ", "") if s == "0" and spelled.startswith("o") else ("আ", "া")
        if b == "EY":
            if nxt in ("L", "N") and spelled in ("ai", "ay", "ei", "ey"):
                return "এই", "েই"  # মেইল, ইমেইল, চেইন, ডোমেইন
            if nxt == "CH" and self.last == "V":
                return "এই", "েই"  # the letter H: এইচ
            return "এ", "ে"
        if b in ("IH", "IY", "EH"):
            if b == "EH" or (self.opening and self.word.startswith("ex")):
                return "এ", "ে"
            if b == "IH" and s == "0" and spelled == "e" and not self.opening:
                return "এ", "ে"  # কলেজ, বাজেট, টিকেট; but রিটার্ন, ডিজাইন
            return "ই", "ি"
        if b == "OW":
            return "ও", "ো"
        if b == "UW" and "ew" in spelled:
            return "ইউ", "িউ"  # নিউ, ফিউ
        return "উ", "ু"  # UH, UW

    @staticmethod
    def _schwa(spelled: str) -> tuple[str, str]:
        """An unstressed vowel as its letters suggest: সেন্ট্রাল, প্রবলেম, ফ্যামিলি, লন্ডন, ফেমাস;
        the i of -ion, -ia is the glide before it (নেশন, মিলিয়ন, অস্ট্রেলিয়া), ai is e (ক্যাপ্টেন)."""
        if spelled == "ai":
            return "এ", "ে"
        if len(spelled) > 1 and spelled[0] == "i":
            spelled = spelled[1:]
        if spelled[:1] in ("a", "u") or "ou" in spelled:
            return "আ", "া"
        if spelled[:1] == "e":
            return "এ", "ে"
        if spelled[:1] in ("i", "y"):
            return "ই", "ি"
        return "অ", ""

    def vowel(self, i: int) -> None:
        b = self.base[i]
        if b == "OY":
            self._oy(i)
            return
        if b in ("EH", "IH", "IY") and self._closing_r(i):
            self._r_vowel(b)
            return
        independent, sign = self._forms(i)
        if self.last == "C":
            piece = sign
            if b == "AE" and self.last_cons == "র" and not (len(self.out) > 1 and self.out[-2] == VIRAMA):
                piece = ZWJ + sign  # র‍্যাব, র‍্যালি: র + য-ফলা, not a reph
        elif self.last == "V":
            # ভিডিও; ইন্ডিয়া, প্লেয়ার; an "a" after a vowel is a new letter name (P H D: পিএইচডি)
            piece = independent if b in ("OW", "UW", "UH", "EY") else YA + sign
        else:
            piece = independent
        self.out.append(piece)
        self.last, self.opening, self.chain = "V", False, 0
        if b == "ER":
            self.out.append("র")
            self.last, self.last_cons = "C", "র"
            self.weak_ra = self.stress[i] == "0"

    def _closing_r(self, i: int) -> bool:
        n = len(self.base)
        return i + 1 < n and self.base[i + 1] == "R" and not self._is_vowel(i + 2)

    def _r_vowel(self, b: str) -> None:
        """The British vowels of "air" and "ear" (EH, IH before a closing r): এয়ার, শেয়ার,
        সফটওয়্যার; ইঞ্জিনিয়ার, ক্যারিয়ার, ইয়ার."""
        after_glide = self.last == "C" and self.last_cons == YA
        if b == "EH":
            self.out.append("্যার" if after_glide else "েয়ার" if self.last == "C" else "এয়ার")
        else:
            self.out.append("ার" if after_glide else "িয়ার" if self.last == "C" else "ইয়ার")
        self.last, self.last_cons, self.opening, self.chain = "C", "র", False, 0
        self.weak_ra = True  # এয়ারপোর্ট, not এয়ার্পোর্ট
        self.skip = 1

    def _oy(self, i: int) -> None:
        """বয়, টয়লেট; before a closing consonant cluster or a final consonant য়ে: পয়েন্ট, অয়েল."""
        self.out.append("য়" if self.last == "C" else "অয়")
        self.last, self.last_cons, self.opening, self.chain = "C", YA, False, 0
        n = len(self.base)
        if i + 1 < n and not self._is_vowel(i + 1) and (i + 2 == n or not self._is_vowel(i + 2)):
            self.out.append("ে")
            self.last = "V"

    def glide(self, i: int) -> int:
        """W and Y with the vowel after them: উইন, টুইটার, ওয়ার্ল্ড, কোয়ালিটি; ইউ, মিউজিক, ইয়েস,
        মিলিয়ন. Returns how many phonemes were used."""
        after_consonant = self.last == "C"
        if not self._is_vowel(i + 1):
            self.out.append("ু" if after_consonant else "উ")
            self.last = "V"
            return 1
        v = self.base[i + 1]
        if self.base[i] == "W":
            if v in ("IH", "IY"):
                self.out.append("ুই" if after_consonant else "উই")
            elif v in ("UH", "UW"):
                self.out.append("ু" if after_consonant else "উ")
            else:
                # কোয়ালিটি, সোয়েটার after a word's first consonants; সফটওয়্যার, নেটওয়ার্ক, নরওয়ে
                # where a new part of the word starts.
                self.out.append("োয়" if after_consonant and self.opening else "ওয়")
                self.last, self.last_cons = "C", YA
                return 1
        elif v in ("UH", "UW"):
            self.out.append("িউ" if after_consonant else "ইউ")
        else:
            self.out.append("িয়" if after_consonant else "ইয়")
            self.last, self.last_cons = "C", YA
            return 1
        self.last, self.opening, self.chain = "V", False, 0
        return 2

    def nasal(self, i: int) -> int:
        """NG: ং before k or a pause (ব্যাংক, কিং), ঙ্গ before g or a vowel (ফিঙ্গার, সিঙ্গার)."""
        nxt = self.base[i + 1] if i + 1 < len(self.base) else ""
        if nxt == "G" or self._is_vowel(i + 1):
            self.out.append("ঙ" + VIRAMA + "গ")
            self.last, self.last_cons, self.chain = "C", "গ", 1
            return 2 if nxt == "G" else 1
        self.out.append("ং")
        self.last = "N"
        return 1

    def letter(self, i: int) -> str:
        b = self.base[i]
        if b == "Z" and i == len(self.base) - 1 and self.word.endswith("s"):
            before = len(self.word) - 2
            voiced = before >= 0 and (
                self.word[before] in "aiouwy" or (self.word[before] == "e" and before not in self.silent)
            )
            return "জ" if voiced else "স"  # ইজ, নিউজ, সিরিজ; but ফোনস, গেমস, ফ্রেন্ডস
        if b == "ZH" and self.base[i + 1 : i + 3] == ["AH", "N"]:
            return "শ"  # টেলিভিশন, ভার্শন
        if b == "G" and i + 1 < len(self.base) and self.base[i + 1] == "Z" and "x" in self.word:
            return "ক"  # এক্সাম: x is ক্স however it is voiced
        if b == "Z" and i > 0 and self.base[i - 1] == "G" and "x" in self.word:
            return "স"
        return _CONSONANTS[b]

    def write(self) -> str:
        i = 0
        while i < len(self.base):
            b = self.base[i]
            if b in VOWELS:
                self.vowel(i)
                i += 1 + self.skip
                self.skip = 0
            elif b in ("W", "Y"):
                i += self.glide(i)
            elif b == "NG":
                i += self.nasal(i)
            else:
                self.consonant(self.letter(i), i)
                i += 1
        return unicodedata.normalize("NFC", "".join(self.out))


def to_bangla(word: str, phones: list[str]) -> str:
    """The Bangla spelling of an English word (lowercase letters, maybe an apostrophe) from its
    ARPAbet phonemes: to_bangla("facebook", "F EY1 S B UH2 K".split()) == "ফেসবুক"."""
    return _Writer(word.replace("'", ""), phones).write()
