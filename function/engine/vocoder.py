"""HiFi-GAN as the bundle serves it: two graphs, the first upsampling stage (the head) and the rest.

A stream vocodes a window of frames at a time, and a window's audio is exact only where every
sample's receptive field lies inside it: a window takes that field's frames on each side along.
Most of the field lies in the head, about a fifth of the work: so the head runs on the chunk plus
both graphs' fields, and the tail only on the chunk plus its own (about 2 frames a side). The audio
is the same as the whole waveform's (the graphs are HiFi-GAN cut in two, nothing approximated).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.float32]


class Vocoder:
    def __init__(
        self,
        head: Any,
        tail: Any,
        *,
        head_context: int,
        tail_context: int,
        head_upsampling: int,
        hop: int,
    ) -> None:
        self._head, self._tail = head, tail
        self._head_context, self._tail_context = head_context, tail_context
        self._up, self._hop = head_upsampling, hop
        # Frames a chunk's audio waits for beyond its end: both graphs' receptive fields.
        self.lookahead = head_context + tail_context

    def __call__(self, frames: npt.NDArray[np.float32], g: npt.NDArray[np.float32]) -> Audio:
        """The waveform of vocoder input frames (time, width) with speaker embedding `g`."""
        if frames.shape[0] == 0:
            return np.zeros(0, np.float32)
        return self._run_tail(self._run_head(frames, g), g)

    def window(
        self, frames: npt.NDArray[np.float32], start: int, end: int, g: npt.NDArray[np.float32]
    ) -> Audio:
        """The audio of frames [start, end) as the whole waveform of `frames` has it, computing no
        more than that needs; exact where `frames` holds `lookahead` frames beyond `end` (or ends)."""
        n = frames.shape[0]
        tail_lo, tail_hi = max(0, start - self._tail_context), min(n, end + self._tail_context)
        head_lo, head_hi = max(0, tail_lo - self._head_context), min(n, tail_hi + self._head_context)
        h = self._run_head(frames[head_lo:head_hi], g)
        h = h[:, :, (tail_lo - head_lo) * self._up : (tail_hi - head_lo) * self._up]
        wav = self._run_tail(h, g)
        return wav[(start - tail_lo) * self._hop : (end - tail_lo) * self._hop]

    def _run_head(self, frames: npt.NDArray[np.float32], g: npt.NDArray[np.float32]) -> Any:
        z = np.ascontiguousarray(frames.T[None], dtype=np.float32)
        return self._head.run(None, {"z": z, "g": g})[0]

    def _run_tail(self, h: Any, g: npt.NDArray[np.float32]) -> Audio:
        wav = self._tail.run(None, {"h": np.ascontiguousarray(h), "g": g})[0]
        return np.asarray(wav, dtype=np.float32).reshape(-1)
