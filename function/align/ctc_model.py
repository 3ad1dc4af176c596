"""A CTC acoustic model in ONNX (e.g. a Bangla wav2vec2 exported with its CTC head) and its
vocabulary: frame logits for audio. The evaluator decodes them into a transcript (CER); the
aligner places a known transcript on them (word timestamps).

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


class CtcModelError(ValueError):
    """The model or its vocabulary cannot be used; the message names the file (and its option)."""


def read_vocab(path: Path, option: str = "--asr-vocab") -> tuple[list[str], int]:
    """Each id's text (what it adds to a transcript) and the blank's id."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CtcModelError(f"{option} {path} cannot be read as JSON: {exc}") from None
    if (
        not isinstance(raw, dict)
        or not raw
        or not all(isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in raw.items())
    ):
        raise CtcModelError(f"{option} {path} must be a JSON object of token -> non-negative id")
    texts = [""] * (max(raw.values()) + 1)
    for token, index in raw.items():
        texts[index] = " " if token == WORD_DELIMITER else "" if _SPECIAL.match(token) else token
    blank = next((raw[b] for b in BLANKS if b in raw), 0)
    return texts, blank


class CtcModel:
    def __init__(
        self,
        model: Path,
        vocab: Path,
        *,
        sample_rate: int = 16000,
        normalize: bool = True,
        use_gpu: bool = False,
        threads: int = 0,
        options: tuple[str, str] = ("--asr", "--asr-vocab"),
    ) -> None:
        """`options` name the model and the vocabulary in errors (the CLI flags, or the variables)."""
        self.texts, self.blank = read_vocab(vocab, options[1])
        option = options[0]
        if not model.is_file():
            raise CtcModelError(f"{option} {model}: no such file")
        try:
            self._session = create_session(model, choose_providers(use_gpu), threads)
        except Exception as exc:  # onnxruntime raises its own types for an invalid model
            raise CtcModelError(f"{option} {model} cannot be loaded: {exc}") from None
        inputs = [i.name for i in self._session.get_inputs()]
        extra = [n for n in inputs[1:] if n != "attention_mask"]
        if extra:
            raise CtcModelError(
                f"{option} {model} takes inputs {', '.join(inputs)}: expected the audio, and optionally "
                "attention_mask"
            )
        self._inputs = inputs
        self._option = options[1]
        self.sample_rate = sample_rate
        self.normalize = normalize

    def logits(self, audio: Audio, sample_rate: int) -> npt.NDArray[np.float32]:
        """(frames, vocabulary) for `audio`; no frames for no audio."""
        wav = dsp.resample(np.asarray(audio, np.float32), sample_rate, self.sample_rate).astype(np.float64)
        if wav.size == 0:
            return np.zeros((0, len(self.texts)), np.float32)
        if self.normalize:
            wav = (wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)
        feeds: dict[str, npt.NDArray[np.generic]] = {self._inputs[0]: wav[None].astype(np.float32)}
        if "attention_mask" in self._inputs[1:]:
            feeds["attention_mask"] = np.ones((1, wav.shape[0]), np.int64)
        logits = np.asarray(self._session.run(None, feeds)[0], np.float32)
        if logits.ndim == 3:
            logits = logits[0]
        if logits.ndim != 2 or logits.shape[-1] < len(self.texts):
            raise CtcModelError(
                f"the CTC model returned logits of shape {logits.shape}; expected (1, frames, "
                f"{len(self.texts)} or more) to match {self._option}"
            )
        return logits
