"""A CTC speech recognizer in ONNX (e.g. a Bangla wav2vec2 exported with its CTC head), decoded
greedily: the most likely token per frame, repeats collapsed, blanks dropped.

The model: input float32 (1, samples) at `sample_rate` (16 kHz for wav2vec2), by default zero-mean
unit-variance normalized per clip as wav2vec2's feature extractor does; an `attention_mask` input,
if it has one, gets all ones; output logits (1, frames, vocabulary) or (frames, vocabulary). The
vocabulary is Hugging Face's vocab.json (token -> id): the blank is `<pad>` (or `[PAD]`, `<blank>`;
else id 0), the word delimiter `|` is a space, other special tokens (`<...>`, `[...]`) are dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt

from function.engine import dsp
from function.engine.sessions import choose_providers, create_session

Audio = npt.NDArray[np.float32]
BLANKS = ("<pad>", "[PAD]", "<blank>")
WORD_DELIMITER = "|"
_SPECIAL = re.compile(r"^(<[^<>]+>|\[[^\[\]]+\])$")


class RecognizerError(ValueError):
    """The recognizer or its vocabulary cannot be used; the message names the file."""


def read_vocab(path: Path) -> tuple[list[str], int]:
    """Each id's text (what it adds to a transcript) and the blank's id."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecognizerError(f"--asr-vocab {path} cannot be read as JSON: {exc}") from None
    if (
        not isinstance(raw, dict)
        or not raw
        or not all(isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in raw.items())
    ):
        raise RecognizerError(f"--asr-vocab {path} must be a JSON object of token -> non-negative id")
    texts = [""] * (max(raw.values()) + 1)
    for token, index in raw.items():
        texts[index] = " " if token == WORD_DELIMITER else "" if _SPECIAL.match(token) else token
    blank = next((raw[b] for b in BLANKS if b in raw), 0)
    return texts, blank


def greedy_decode(logits: npt.NDArray[np.floating], texts: list[str], blank: int) -> str:
    """CTC best path: argmax per frame, runs of one token collapsed, blanks dropped."""
    best = np.argmax(logits, axis=-1)
    out: list[str] = []
    previous = -1
    for index in best.tolist():
        if index not in (previous, blank):
            out.append(texts[index] if index < len(texts) else "")
        previous = index
    return " ".join("".join(out).split())


class CtcRecognizer:
    def __init__(
        self,
        model: Path,
        vocab: Path,
        *,
        sample_rate: int = 16000,
        normalize: bool = True,
        use_gpu: bool = False,
        threads: int = 0,
    ) -> None:
        self.texts, self.blank = read_vocab(vocab)
        if not model.is_file():
            raise RecognizerError(f"--asr {model}: no such file")
        try:
            self._session = create_session(model, choose_providers(use_gpu), threads)
        except Exception as exc:  # onnxruntime raises its own types for an invalid model
            raise RecognizerError(f"--asr {model} cannot be loaded: {exc}") from None
        inputs = [i.name for i in self._session.get_inputs()]
        extra = [n for n in inputs[1:] if n != "attention_mask"]
        if extra:
            raise RecognizerError(
                f"--asr {model} takes inputs {', '.join(inputs)}: expected the audio, and optionally "
                "attention_mask"
            )
        self._inputs = inputs
        self.sample_rate = sample_rate
        self.normalize = normalize

    def transcribe(self, audio: Audio, sample_rate: int) -> str:
        wav = dsp.resample(np.asarray(audio, np.float32), sample_rate, self.sample_rate).astype(np.float64)
        if wav.size == 0:
            return ""
        if self.normalize:
            wav = (wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)
        feeds: dict[str, npt.NDArray[np.generic]] = {self._inputs[0]: wav[None].astype(np.float32)}
        if "attention_mask" in self._inputs[1:]:
            feeds["attention_mask"] = np.ones((1, wav.shape[0]), np.int64)
        logits = np.asarray(self._session.run(None, feeds)[0])
        if logits.ndim == 3:
            logits = logits[0]
        if logits.ndim != 2 or logits.shape[-1] < len(self.texts):
            raise RecognizerError(
                f"the recognizer returned logits of shape {logits.shape}; expected (1, frames, "
                f"{len(self.texts)} or more) to match --asr-vocab"
            )
        return greedy_decode(logits, self.texts, self.blank)
