"""CTC forced alignment: the most likely frame span of each token of a known transcript.

The Viterbi path through the CTC trellis (tokens interleaved with blanks; a path stays on a state,
moves to the next, or skips a blank between two different tokens), as torchaudio's forced_align
computes it, in numpy: O(frames x tokens) time, one int8 back-pointer per cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


class AlignmentError(ValueError):
    """The transcript cannot be aligned to the frames (too short audio for its tokens)."""


def force_align(
    log_probs: npt.NDArray[np.floating], tokens: Sequence[int], blank: int
) -> list[tuple[int, int]]:
    """Each token's [first, last] frame on the best CTC path. `log_probs`: (frames, vocabulary)."""
    if not tokens:
        return []
    frames = log_probs.shape[0]
    labels = np.full(2 * len(tokens) + 1, blank, np.int64)
    labels[1::2] = tokens
    ids = np.asarray(tokens)
    # A repeated token needs a blank frame between its two emissions.
    needed = len(tokens) + int(np.count_nonzero(ids[1:] == ids[:-1]))
    if frames < needed:
        raise AlignmentError(f"{frames} frames cannot hold {len(tokens)} tokens (at least {needed} needed)")
    states = labels.shape[0]
    emit = np.asarray(log_probs, np.float64)[:, labels]  # (frames, states)
    can_skip = np.zeros(states, bool)  # a token state reached from two states back (over a blank)
    can_skip[3::2] = ids[1:] != ids[:-1]
    alpha = np.full(states, -np.inf)
    alpha[:2] = emit[0, :2]
    back = np.zeros((frames, states), np.int8)
    cand = np.full((3, states), -np.inf)
    columns = np.arange(states)
    for t in range(1, frames):
        cand[0] = alpha
        cand[1, 1:] = alpha[:-1]
        cand[2, 2:] = np.where(can_skip[2:], alpha[:-2], -np.inf)
        step = np.argmax(cand, axis=0)
        alpha = cand[step, columns] + emit[t]
        back[t] = step
    s = states - 1 if alpha[-1] >= alpha[-2] else states - 2
    if not np.isfinite(alpha[s]):
        raise AlignmentError("no CTC path reaches the end of the transcript")
    path = np.empty(frames, np.int64)
    for t in range(frames - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    spans: list[tuple[int, int]] = []
    for k in range(len(tokens)):
        hit = np.flatnonzero(path == 2 * k + 1)
        spans.append((int(hit[0]), int(hit[-1])))
    return spans
