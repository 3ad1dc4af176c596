"""GPT latents -> vocoder input frames: the linear interpolations coqui-tts applies, made incremental.

coqui-tts stretches the latents by 1/speed, then by code_stride/hop (4x), then by 24000/22050, each a
torch `F.interpolate(mode="linear", align_corners=False)` with a scale factor. An output frame depends
on two neighbouring input frames only, so each stage can emit the frames whose inputs are final and
the stream of frames equals the one-shot result exactly.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Frames = npt.NDArray[np.float32]  # (time, channels)


class LinearStage:
    """One `F.interpolate(scale_factor=s, mode="linear")` over time, fed frames as they arrive."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._inv = np.float32(1.0 / scale)
        self._inputs: list[Frames] = []
        self._n_in = 0
        self._n_out = 0
        self._buffer: Frames | None = None

    def _source(
        self, out_idx: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        src = np.maximum(self._inv * (out_idx.astype(np.float32) + np.float32(0.5)) - np.float32(0.5), 0)
        i0 = src.astype(np.int64)
        return i0, (src - i0).astype(np.float32)

    def push(self, frames: Frames, *, final: bool = False) -> Frames:
        """Add input frames; return the output frames that no later input can change."""
        if len(frames):
            self._inputs.append(frames)
            self._n_in += len(frames)
        if self._n_in == 0:
            return np.zeros((0, frames.shape[1]), np.float32)
        data = np.concatenate(self._inputs) if len(self._inputs) > 1 else self._inputs[0]
        self._inputs = [data]
        n_total = math.floor(self._n_in * self.scale)
        if final:
            end = n_total
        else:
            # Frames whose right neighbour is already known; the last input may still gain one.
            candidates = np.arange(self._n_out, n_total, dtype=np.int64)
            i0, _ = self._source(candidates)
            end = self._n_out + int(np.count_nonzero(i0 + 1 <= self._n_in - 1))
        idx = np.arange(self._n_out, end, dtype=np.int64)
        i0, lam = self._source(idx)
        i1 = np.minimum(i0 + 1, self._n_in - 1)
        out = data[i0] * (1 - lam)[:, None] + data[i1] * lam[:, None]
        self._n_out = end
        return out.astype(np.float32)


class LatentUpsampler:
    """All of coqui-tts's stages in order; push GPT latents, get vocoder frames."""

    def __init__(self, speed: float, code_stride: int, hop: int, in_rate: int, out_rate: int) -> None:
        scales = [] if speed == 1.0 else [1.0 / max(speed, 0.05)]
        scales.append(code_stride / hop)
        if in_rate != out_rate:
            scales.append(out_rate / in_rate)
        self.stages = [LinearStage(s) for s in scales]

    def push(self, latents: Frames, *, final: bool = False) -> Frames:
        frames = latents
        for stage in self.stages:
            frames = stage.push(frames, final=final)
        return frames
