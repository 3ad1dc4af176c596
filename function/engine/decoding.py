"""Autoregressive GPT decoding with a KV cache, for one sequence or many at once.

A `Sequence` is one text piece being decoded: its own sampling state (random stream, tokens seen,
limits), so its codes do not depend on what else runs beside it. `DecodeBatch` holds the KV cache
of every running sequence in one set of arrays, left-padded to the longest: one GPT call advances
every row by one token, the attention mask hides each row's padding, and the position embeddings
are added per row outside the graph. Prefill (the voice's conditioning, the text and the start
token) runs per sequence, since prefixes differ in length; the conditioning's part of it is kept per
voice (function.engine.prefix_cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from function.bundle_format import GptSpec
from function.engine.prefix_cache import PrefixCache
from function.engine.sampling import SamplingConfig, apply_repetition_penalty, choose_token

Array = npt.NDArray[np.float32]


@dataclass(eq=False)  # a sequence is an identity (a row in flight), not a value
class Sequence:
    """One piece's decoding state. `codes` collects the chosen audio codes, the stop token included."""

    prefix: Array  # (1, T, width): what prefill feeds the GPT
    cfg: SamplingConfig
    rng: np.random.Generator
    seen: npt.NDArray[np.bool_]
    limit: int
    min_new_tokens: int
    cond_len: int = 0  # leading prefix positions that are the voice's conditioning (cached per voice)
    codes: list[int] = field(default_factory=list)
    next_input: Array | None = None  # (width,): the embedding of the last chosen code
    finished: bool = False
    stopped: bool = False  # finished on the stop token, not at `limit`
    # This row failed on its own (its logits were NaN, say): it ends with this error, alone.
    error: Exception | None = None


class GptDecoder:
    """The GPT step graph and the embeddings around it; stateless between calls (state is in rows)."""

    def __init__(
        self,
        session: Any,
        embeddings: dict[str, Array],
        gpt: GptSpec,
        kv_dtype: Any,
        *,
        device: str | None = None,
        prefix_cache: PrefixCache | None = None,
    ) -> None:
        self.session = session
        self.prefix_cache = PrefixCache(0) if prefix_cache is None else prefix_cache
        # With a device ("cuda", or "cpu" to exercise the same path in CI) the KV cache stays in
        # ONNX Runtime's memory between steps through I/O binding: only the new token's embedding
        # goes in and the logits and latent come out per step; the cache crosses to the host only
        # when a row joins or leaves the batch.
        self.device = device
        self._emb = embeddings
        self._layers = gpt.layers
        self._heads = gpt.heads
        self.width = gpt.model_dim
        self._head_dim = self.width // self._heads
        self._kv_dtype = kv_dtype
        self._kv_names = [f"past_{kind}_{i}" for i in range(self._layers) for kind in ("key", "value")]
        self._start_text, self._stop_text = gpt.start_text_token, gpt.stop_text_token
        self._start_audio, self.stop_audio = gpt.start_audio_token, gpt.stop_audio_token
        self._n_audio = gpt.num_audio_tokens
        self.max_new_tokens = gpt.max_new_tokens

    def sequence(
        self,
        tokens: list[int],
        cond_latents: Array,
        cfg: SamplingConfig,
        *,
        seed: int | None,
        max_new_tokens: int | None,
        min_new_tokens: int,
    ) -> Sequence:
        emb = self._emb
        ids = np.array([self._start_text, *tokens, self._stop_text], dtype=np.int64)
        text = emb["text_embedding"][ids] + emb["text_pos_embedding"][: len(ids)]
        start = emb["mel_embedding"][self._start_audio] + emb["mel_pos_embedding"][0]
        prefix = np.concatenate([cond_latents[0], text, start[None]]).astype(np.float32)[None]
        seen = np.zeros(self._n_audio, dtype=np.bool_)
        seen[[1, self._start_audio]] = True  # the placeholder prompt ids coqui-tts passes to generate()
        limit = self.max_new_tokens if max_new_tokens is None else min(max_new_tokens, self.max_new_tokens)
        return Sequence(
            prefix,
            cfg,
            np.random.default_rng(seed),
            seen,
            limit,
            min_new_tokens,
            cond_len=cond_latents.shape[1],
        )

    def _run(
        self, inputs: Array, mask: npt.NDArray[np.int64], kv: list[Array]
    ) -> tuple[Array, Array, list[Array]]:
        feeds: dict[str, Any] = {"inputs_embeds": inputs, "attention_mask": mask}
        feeds.update(zip(self._kv_names, kv, strict=True))
        logits, latents, *present = self.session.run(None, feeds)
        return logits, latents, present

    def _run_bound(
        self, inputs: Array, mask: npt.NDArray[np.int64], kv: list[Any]
    ) -> tuple[Array, Array, list[Any]]:
        binding = self.session.io_binding()
        binding.bind_cpu_input("inputs_embeds", inputs)
        binding.bind_cpu_input("attention_mask", mask)
        for name, value in zip(self._kv_names, kv, strict=True):
            binding.bind_ortvalue_input(name, value)
        outputs = [o.name for o in self.session.get_outputs()]
        binding.bind_output(outputs[0], "cpu")  # logits: sampled on the host
        binding.bind_output(outputs[1], "cpu")  # latent: the vocoder's input
        for name in outputs[2:]:
            binding.bind_output(name, self.device)  # the grown cache stays where it is
        self.session.run_with_iobinding(binding)
        values = binding.get_outputs()
        return values[0].numpy(), values[1].numpy(), list(values[2:])

    def empty_cache(self, rows: int = 1) -> list[Array]:
        shape = (rows, self._heads, 0, self._head_dim)
        return [np.zeros(shape, self._kv_dtype) for _ in range(2 * self._layers)]

    def prefill(self, seq: Sequence) -> tuple[Array, list[Array]]:
        """Run the prefix; return its latent (width,) and KV cache (one row), and choose the first code.

        The voice's conditioning positions come from the prefix cache (or run first and are kept),
        then the rest of the prefix runs on top of them."""
        length, cond = seq.prefix.shape[1], seq.cond_len
        if not 0 < cond < length:
            raise ValueError(f"a prefix of {length} positions cannot start with {cond} of conditioning")
        head = np.ascontiguousarray(seq.prefix[:, :cond])
        past = self.prefix_cache.get(
            head.tobytes(), lambda: self._run(head, np.ones((1, cond), np.int64), self.empty_cache())[2]
        )
        logits, latents, kv = self._run(seq.prefix[:, cond:], np.ones((1, length), np.int64), past)
        self._choose(seq, logits[0])
        return latents[0], kv

    def step(self, batch: DecodeBatch) -> Array:
        """Advance every row of the batch by one position; return the latents (rows, width)."""
        rows = batch.rows
        inputs = np.stack([_next_input(seq) for seq in rows])[:, None].astype(np.float32)
        total = batch.width + 1
        valid = batch.lengths + 1
        mask = (np.arange(total)[None, :] >= (total - valid)[:, None]).astype(np.int64)
        if self.device is None:
            logits, latents, kv = self._run(inputs, mask, batch.host_kv())
        else:
            logits, latents, kv = self._run_bound(inputs, mask, batch.device_kv(self.device))
        batch.advance(kv)
        for seq, row in zip(rows, logits, strict=True):
            try:
                self._choose(seq, row)
            except Exception as exc:  # one bad row ends alone; the other rows go on as if it had not been
                seq.error, seq.finished = exc, True
        return latents

    def _choose(self, seq: Sequence, logits: Array) -> None:
        scores = logits.astype(np.float32)
        apply_repetition_penalty(scores, seq.seen, seq.cfg.repetition_penalty)
        n = len(seq.codes)
        if n < seq.min_new_tokens:
            scores[self.stop_audio] = -np.inf
        token = choose_token(scores, seq.cfg, seq.rng)
        seq.codes.append(token)
        if token == self.stop_audio or n + 1 >= seq.limit:
            seq.finished = True
            seq.stopped = token == self.stop_audio
            return
        seq.seen[token] = True
        emb = self._emb
        seq.next_input = (emb["mel_embedding"][token] + emb["mel_pos_embedding"][n + 1]).astype(np.float32)


class DecodeBatch:
    """The running sequences and their KV caches, right-aligned in arrays (rows, heads, width, dim)."""

    def __init__(self) -> None:
        self.rows: list[Sequence] = []
        self.kv: list[Any] = []  # numpy arrays, or OrtValues on a device between joins and leaves
        self.width = 0  # positions in the cache: the longest row's length
        self.lengths = np.zeros(0, np.int64)

    def advance(self, kv: list[Any]) -> None:
        """Every row grew by one position: the grown cache replaces the old one."""
        self.kv = kv
        self.lengths = self.lengths + 1
        self.width += 1

    def host_kv(self) -> list[Array]:
        """The cache as numpy arrays (copied from the device if it lives there)."""
        self.kv = [k if isinstance(k, np.ndarray) else k.numpy() for k in self.kv]
        return self.kv

    def device_kv(self, device: str) -> list[Any]:
        """The cache as ONNX Runtime values on `device` (copied there once after a join or leave)."""
        self.kv = [
            ort.OrtValue.ortvalue_from_numpy(k, device) if isinstance(k, np.ndarray) else k for k in self.kv
        ]
        return self.kv

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, seq: Sequence, kv: list[Array]) -> None:
        """Join a prefilled sequence; the shorter side is padded on the left."""
        length = int(kv[0].shape[2])
        if not self.rows:
            self.rows, self.kv, self.lengths, self.width = (
                [seq],
                list(kv),
                np.array([length], np.int64),
                length,
            )
            return
        width = max(self.width, length)
        self.kv = [
            np.concatenate([_left_pad(old, width), _left_pad(new, width)])
            for old, new in zip(self.host_kv(), kv, strict=True)
        ]
        self.width = width
        self.rows.append(seq)
        self.lengths = np.append(self.lengths, length)

    def remove(self, seqs: set[int]) -> None:
        """Drop rows (by id() of their Sequence) and the padding no remaining row needs."""
        keep = [i for i, seq in enumerate(self.rows) if id(seq) not in seqs]
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in keep]
        self.lengths = self.lengths[keep]
        if not self.rows:
            self.kv, self.width = [], 0
            return
        trim = self.width - int(self.lengths.max())
        self.kv = [np.ascontiguousarray(k[keep, :, trim:]) for k in self.host_kv()]
        self.width -= trim


def _next_input(seq: Sequence) -> Array:
    if seq.next_input is None:
        raise ValueError("a sequence joins a batch only after its prefill")
    return seq.next_input


def _left_pad(kv: Array, width: int) -> Array:
    missing = width - kv.shape[2]
    if missing == 0:
        return kv
    return np.pad(kv, ((0, 0), (0, 0), (missing, 0), (0, 0)))
