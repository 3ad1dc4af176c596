"""Accent distance: how far an output's embedding lies from the centroid of reference clips in the
target accent (Bangladeshi Bangla), as 1 - cosine similarity (0: on the centroid's direction).

The embedding is the bundle's speaker encoder (per target: each variant's own graph) or an ONNX
model the user supplies: input float32 (1, samples) at its rate, output (1, D) or (D,). Outputs and
references are measured alike: leading and trailing silence cut, at most MAX_EMBED_S of speech.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from function.audio import AudioDecodeError, decode_reference
from function.engine import dsp
from function.engine.sessions import choose_providers, create_session
from function.quality.policy import MIN_EMBED_S
from function.quality.signals import cosine_similarity, speech_span

Audio = npt.NDArray[np.float32]
Embed = Callable[[Audio, int], npt.NDArray[np.float32]]  # (mono audio, rate) -> embedding
CLIP_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".opus", ".mp3"})


class AccentError(ValueError):
    """The reference clips or the embedding model cannot be used; the message names the file."""


@dataclass(frozen=True)
class Clip:
    name: str
    audio: Audio  # mono
    sample_rate: int


def read_clips(folder: Path) -> list[Clip]:
    """Every audio file in `folder` (not its subfolders), mono."""
    if not folder.is_dir():
        raise AccentError(f"--accent-refs {folder}: no such directory")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in CLIP_SUFFIXES and p.is_file())
    if not paths:
        raise AccentError(
            f"--accent-refs {folder} holds no clips ({', '.join(sorted(CLIP_SUFFIXES))}): add recordings "
            "of speakers in the target accent"
        )
    clips = []
    for path in paths:
        try:
            audio, rate = decode_reference(path.read_bytes())
        except (AudioDecodeError, OSError) as exc:
            raise AccentError(f"accent reference {path}: {exc}") from None
        mono = audio.mean(axis=1) if audio.ndim == 2 else audio
        clips.append(Clip(path.name, np.asarray(mono, np.float32), rate))
    return clips


class OnnxEmbedder:
    """A user-supplied embedding model: float32 (1, samples) at `sample_rate` in, (1, D) or (D,) out."""

    def __init__(self, path: Path, sample_rate: int, *, use_gpu: bool = False, threads: int = 0) -> None:
        if not path.is_file():
            raise AccentError(f"--embedding-model {path}: no such file")
        try:
            self._session = create_session(path, choose_providers(use_gpu), threads)
        except Exception as exc:  # onnxruntime raises its own types for a missing or invalid model
            raise AccentError(f"--embedding-model {path} cannot be loaded: {exc}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise AccentError(
                f"--embedding-model {path} takes {len(inputs)} inputs; it must take one, float32 (1, samples)"
            )
        self._input = inputs[0].name
        self.sample_rate = sample_rate

    def __call__(self, audio: Audio, sample_rate: int) -> npt.NDArray[np.float32]:
        wav = dsp.resample(np.asarray(audio, np.float32), sample_rate, self.sample_rate)
        out = self._session.run(None, {self._input: wav[None]})[0]
        return np.asarray(out, np.float32).reshape(-1)


def centroid(embed: Embed, clips: Sequence[Clip]) -> npt.NDArray[np.float64]:
    """The mean of the references' L2-normalized embeddings (each clip counts once, whatever its
    loudness or length)."""
    vectors = []
    for clip in clips:
        span = speech_span(clip.audio, clip.sample_rate)
        if span is None:
            raise AccentError(
                f"accent reference {clip.name} holds less than {MIN_EMBED_S:g} s of speech: replace it"
            )
        v = np.asarray(embed(span, clip.sample_rate), np.float64).reshape(-1)
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm == 0:
            raise AccentError(f"accent reference {clip.name}: the embedding model gave a zero or NaN vector")
        vectors.append(v / norm)
    return np.asarray(np.mean(vectors, axis=0))


def accent_distance(
    embed: Embed, audio: Audio, sample_rate: int, center: npt.NDArray[np.float64]
) -> float | None:
    """1 - cosine(embedding of the output's speech, centroid); None with too little speech."""
    span = speech_span(audio, sample_rate)
    if span is None:
        return None
    return 1.0 - cosine_similarity(embed(span, sample_rate), center)
