"""Next-token selection, reproducing the logits processing coqui-tts gets from transformers' generate().

Order as in transformers: repetition penalty over every id seen so far (the prompt's placeholder
ids included), the minimum-length stop ban, then for sampling temperature, top-k and top-p.
`length_penalty` only acts in beam search there, so with one beam it changes nothing here either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Logits = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float
    top_k: int
    top_p: float
    repetition_penalty: float
    greedy: bool


def apply_repetition_penalty(logits: Logits, seen: npt.NDArray[np.bool_], penalty: float) -> None:
    if penalty == 1.0:
        return
    picked = logits[seen]
    logits[seen] = np.where(picked < 0, picked * penalty, picked / penalty)


def choose_token(logits: Logits, cfg: SamplingConfig, rng: np.random.Generator) -> int:
    """Pick the next token from processed logits (modified in place)."""
    if cfg.greedy:
        return int(np.argmax(logits))
    scores = logits.astype(np.float64) / cfg.temperature
    if 0 < cfg.top_k < scores.shape[0]:
        kth = np.partition(scores, -cfg.top_k)[-cfg.top_k]
        scores[scores < kth] = -np.inf
    if cfg.top_p < 1.0:
        order = np.argsort(scores, kind="stable")
        sorted_scores = scores[order]
        probs = np.exp(sorted_scores - sorted_scores[-1])
        cumulative = np.cumsum(probs / probs.sum())
        remove = cumulative <= 1.0 - cfg.top_p
        remove[-1] = False  # always keep the most likely token
        scores[order[remove]] = -np.inf
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    return int(rng.choice(probs.shape[0], p=probs))
