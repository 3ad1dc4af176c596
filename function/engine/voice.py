"""A cloned voice: GPT conditioning latents plus the speaker d-vector, serializable to bytes."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from function.engine.errors import VoiceFormatError

VOICE_FORMAT = 1


@dataclass(frozen=True)
class Voice:
    cond_latents: npt.NDArray[np.float32]  # (1, 32, gpt width)
    speaker_embedding: npt.NDArray[np.float32]  # (1, 512, 1)
    model: str = ""  # "<name>/<version>" of the bundle that made it: latents only fit that model

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        meta = json.dumps({"format": VOICE_FORMAT, "model": self.model})
        np.savez(
            buf, meta=np.array(meta), cond_latents=self.cond_latents, speaker_embedding=self.speaker_embedding
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Voice:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"]))
                cond = npz["cond_latents"].astype(np.float32)
                spk = npz["speaker_embedding"].astype(np.float32)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise VoiceFormatError(
                f"not a serialized voice ({exc}); create it again from the reference clip"
            ) from exc
        if meta.get("format") != VOICE_FORMAT or cond.ndim != 3 or spk.ndim != 3:
            raise VoiceFormatError("unsupported voice format; create it again from the reference clip")
        return cls(cond_latents=cond, speaker_embedding=spk, model=str(meta.get("model", "")))
