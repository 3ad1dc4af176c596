"""How closely a reduced-precision variant tracks fp32 on this CPU: the figures `export verify`,
`python -m bench int8` and the tests read.

Every figure compares two engines on the same host, with the same synthetic voice and greedy
decoding. Random-weight checkpoints have narrow logit margins, so greedy paths may fork after some
tokens; latents and audio are compared only before the first fork (after it they legitimately differ).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from function.engine import Engine, SynthesisParams

TEXTS = (
    ("bn", "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। আজ সকালে বৃষ্টি হয়েছিল, তাই আমরা দেরিতে বের হলাম।"),
    ("en", "Hello world, this is a test of the speech engine, long enough for many audio tokens."),
)


def snr_db(ref: npt.NDArray[Any], other: npt.NDArray[Any]) -> float:
    """Signal-to-noise ratio of `other` against `ref` in dB (inf when identical)."""
    ref, other = np.asarray(ref, np.float64).ravel(), np.asarray(other, np.float64).ravel()
    noise = float(((ref - other) ** 2).sum())
    return float("inf") if noise == 0 else float(10 * np.log10(float((ref**2).sum()) / noise))


@dataclass
class TextParity:
    language: str
    tokens: int  # greedy tokens compared (the shorter of the two runs)
    first_fork: int  # first token index where the codes differ; == tokens if none
    latent_snr_db: float  # GPT latents (the vocoder's input) before the fork
    waveform_snr_db: float  # the audio of the tokens before the fork


@dataclass
class Parity:
    speaker_embedding_max_abs: float
    cond_latents_max_abs: float
    cond_latents_snr_db: float
    vocoder_snr_db: float  # HiFi-GAN alone, both fed fp32's frames
    texts: list[TextParity] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        forks = ", ".join(f"{t.language} {t.first_fork}/{t.tokens}" for t in self.texts)
        wave = min((t.waveform_snr_db for t in self.texts), default=float("nan"))
        return (
            f"cond latents {self.cond_latents_snr_db:.1f} dB (max |diff| {self.cond_latents_max_abs:.3f}), "
            f"speaker embedding max |diff| {self.speaker_embedding_max_abs:.1e}, vocoder "
            f"{self.vocoder_snr_db:.1f} dB, greedy codes agree up to {forks}, waveform before the fork "
            f">= {wave:.1f} dB"
        )


def compare(reference: Engine, other: Engine, *, tokens: int = 200) -> Parity:
    """Parity of `other` against `reference` (normally the same bundle's fp32 variant)."""
    from export.verify import synthetic_reference

    rt = reference.bundle.runtime
    samples_per_token = rt.code_stride_len * rt.output_sample_rate // rt.input_sample_rate

    clip = synthetic_reference(seconds=6.0)
    v_ref, v_other = reference.make_voice(clip, 24000), other.make_voice(clip, 24000)
    frames = reference.vocoder_frames(TEXTS[0][1], v_ref, SynthesisParams(greedy=True, max_new_tokens=40))[0]
    wav_ref = reference._vocode(frames, v_ref)
    wav_other = other._vocode(frames, v_ref)
    parity = Parity(
        speaker_embedding_max_abs=float(np.abs(v_ref.speaker_embedding - v_other.speaker_embedding).max()),
        cond_latents_max_abs=float(np.abs(v_ref.cond_latents - v_other.cond_latents).max()),
        cond_latents_snr_db=snr_db(v_ref.cond_latents, v_other.cond_latents),
        vocoder_snr_db=snr_db(wav_ref, wav_other),
    )
    for language, text in TEXTS:
        if language not in reference.languages:
            continue
        p = SynthesisParams(language=language, greedy=True, max_new_tokens=tokens)
        lat_ref, codes_ref = _latents_and_codes(reference, text, v_ref, p)
        lat_other, codes_other = _latents_and_codes(other, text, v_other, p)
        n = min(len(codes_ref), len(codes_other))
        fork = next((i for i in range(n) if codes_ref[i] != codes_other[i]), n)
        # Audio up to two tokens before the fork: later samples already hear the forked latents.
        cut = max(fork - 2, 1) * samples_per_token
        wav_a = reference.synthesize(text, v_ref, p)[:cut]
        wav_b = other.synthesize(text, v_other, p)[:cut]
        parity.texts.append(
            TextParity(
                language=language,
                tokens=n,
                first_fork=fork,
                latent_snr_db=snr_db(lat_ref[: max(fork, 1)], lat_other[: max(fork, 1)]),
                waveform_snr_db=snr_db(wav_a, wav_b[: len(wav_a)]),
            )
        )
    return parity


def _latents_and_codes(
    engine: Engine, text: str, voice: Any, params: SynthesisParams
) -> tuple[npt.NDArray[np.float32], list[int]]:
    _, seqs = engine._sequences(text, voice, params)
    seq = seqs[0]
    latents = np.stack(list(engine.decode_alone(seq)))
    return latents, list(seq.codes)
