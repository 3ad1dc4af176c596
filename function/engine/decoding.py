"""Autoregressive GPT decoding with a KV cache, for one sequence or many at once.

A `Sequence` is one text piece being decoded: its own sampling state (random stream, tokens seen,
limits), so its codes do not depend on what else runs beside it. `DecodeBatch` holds the KV cache
of every running sequence in one buffer per layer, (rows, heads, capacity, head_dim), each row's
positions from the start and its length beside it: one GPT call advances every row by one token,
writing that position into the buffer in place (the graph's attention is onnxruntime's
GroupQueryAttention with past and present bound to the same memory, export.graphs), and the position
embeddings are added per row outside the graph. The capacity grows by doubling, so a step copies
nothing. Prefill (the voice's conditioning, the text and the start token) runs per sequence, since
prefixes differ in length; the conditioning's part of it is kept per voice
(function.engine.prefix_cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from function.bundle_format import GptSpec, kv_cache_names
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

    def new_cache(self, rows: int, capacity: int) -> list[Array]:
        shape = (rows, self._heads, capacity, self._head_dim)
        return [np.zeros(shape, self._kv_dtype) for _ in range(2 * self._layers)]

    def _placed(self, kv: list[Array]) -> list[Any]:
        """The cache where GPT calls read it: as is on the host, as ONNX Runtime values on a device."""
        return kv if self.device is None else _on_device(kv, self.device)

    def _conditioning(self, head: Array) -> list[Array]:
        """The KV cache of a voice's conditioning positions alone, (1, heads, positions, head_dim)."""
        positions = head.shape[1]
        kv = self._placed(self.new_cache(1, positions))
        gpt_call(self.session, head, np.array([positions - 1], np.int32), kv)
        return _host(kv)

    def prefill(self, seq: Sequence) -> tuple[Array, RowCache]:
        """Run the prefix; return its latent (width,) and KV cache (one row), and choose the first code.

        The voice's conditioning positions come from the prefix cache (or run first and are kept),
        then the rest of the prefix runs on top of them."""
        length, cond = seq.prefix.shape[1], seq.cond_len
        if not 0 < cond < length:
            raise ValueError(f"a prefix of {length} positions cannot start with {cond} of conditioning")
        head = np.ascontiguousarray(seq.prefix[:, :cond])
        past = self.prefix_cache.get(head.tobytes(), lambda: self._conditioning(head))
        kv = self.new_cache(1, capacity_for(length + 1))
        for buffer, part in zip(kv, past, strict=True):
            buffer[:, :, :cond] = part
        placed = self._placed(kv)
        logits, latents = gpt_call(
            self.session, np.ascontiguousarray(seq.prefix[:, cond:]), np.array([length - 1], np.int32), placed
        )
        self._choose(seq, logits[0])
        return latents[0], RowCache(placed, length)

    def step(self, batch: DecodeBatch) -> Array:
        """Advance every row of the batch by one position; return the latents (rows, width)."""
        rows = batch.rows
        batch.reserve(1)
        inputs = np.stack([_next_input(seq) for seq in rows])[:, None].astype(np.float32)
        kv = batch.host_kv() if self.device is None else batch.device_kv(self.device)
        # seqlens_k: each row's length after this step, minus one: the index its new position takes.
        logits, latents = gpt_call(self.session, inputs, batch.lengths.astype(np.int32), kv)
        batch.advance()
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


def gpt_call(
    session: Any, inputs: Array, seqlens: npt.NDArray[np.int32], kv: list[Any]
) -> tuple[Array, Array]:
    """One call of the GPT graph: new positions `inputs` (rows, S, width) written at each row's
    `seqlens` - S + 1 ... `seqlens` of the cache `kv` (per layer key, value), in place; returns the
    logits and latents of each row's last position."""
    binding = session.io_binding()
    binding.bind_cpu_input("inputs_embeds", inputs)
    binding.bind_cpu_input("seqlens_k", seqlens)
    binding.bind_output("logits", "cpu")  # sampled on the host
    binding.bind_output("latent", "cpu")  # the vocoder's input
    for (past, present), value in zip(kv_cache_names(len(kv) // 2), kv, strict=True):
        if isinstance(value, np.ndarray):  # host memory, bound as is: the graph writes into it
            args = ("cpu", 0, value.dtype, list(value.shape), value.ctypes.data)
            binding.bind_input(past, *args)
            binding.bind_output(present, *args)
        else:  # an OrtValue on the device
            binding.bind_ortvalue_input(past, value)
            binding.bind_ortvalue_output(present, value)
    session.run_with_iobinding(binding)
    logits, latents = binding.get_outputs()[:2]  # in the order bound
    return logits.numpy(), latents.numpy()


MIN_CAPACITY = 64


def capacity_for(positions: int) -> int:
    """A cache size that holds `positions`: powers of two, so a growing row is copied log2 times."""
    return max(MIN_CAPACITY, 1 << (positions - 1).bit_length())


@dataclass(eq=False)
class RowCache:
    """One prefilled row's KV cache: per layer, key and value (1, heads, capacity, head_dim), numpy or
    ONNX Runtime values on a device, the first `length` positions filled."""

    kv: list[Any]
    length: int


class DecodeBatch:
    """The running sequences and their KV caches: per layer one buffer (rows, heads, capacity, dim),
    each row's positions from the start, `lengths` of them filled."""

    def __init__(self) -> None:
        self.rows: list[Sequence] = []
        self.kv: list[Any] = []  # numpy arrays, or OrtValues on a device between joins and leaves
        self.lengths = np.zeros(0, np.int64)
        self.capacity = 0

    def advance(self) -> None:
        """Every row grew by one position (written into the buffers by the GPT call)."""
        self.lengths = self.lengths + 1

    def reserve(self, positions: int) -> None:
        """Make room for `positions` more per row: a larger buffer when the longest row would not fit."""
        needed = int(self.lengths.max(initial=0)) + positions
        if self.rows and needed > self.capacity:
            self._rebuild(list(range(len(self.rows))), capacity_for(needed))

    def host_kv(self) -> list[Array]:
        """The cache as numpy arrays (copied from the device if it lives there)."""
        self.kv = _host(self.kv)
        return self.kv

    def device_kv(self, device: str) -> list[Any]:
        """The cache as ONNX Runtime values on `device` (copied there once after a join or leave)."""
        self.kv = _on_device(self.kv, device)
        return self.kv

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, seq: Sequence, cache: RowCache) -> None:
        """Join a prefilled sequence."""
        if not self.rows:
            self.rows, self.kv, self.lengths = [seq], list(cache.kv), np.array([cache.length], np.int64)
            self.capacity = int(_shape(cache.kv[0])[2])
            return
        self.rows.append(seq)
        self.lengths = np.append(self.lengths, cache.length)
        keep = list(range(len(self.rows) - 1))
        self._rebuild(keep, max(self.capacity, int(_shape(cache.kv[0])[2])), joining=_host(cache.kv))

    def remove(self, seqs: set[int]) -> None:
        """Drop rows (by id() of their Sequence)."""
        keep = [i for i, seq in enumerate(self.rows) if id(seq) not in seqs]
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in keep]
        if not self.rows:
            self.kv, self.lengths, self.capacity = [], np.zeros(0, np.int64), 0
            return
        self._rebuild(keep, capacity_for(int(self.lengths[keep].max()) + 1))
        self.lengths = self.lengths[keep]

    def _rebuild(self, keep: list[int], capacity: int, joining: list[Array] | None = None) -> None:
        """New buffers of `capacity` holding rows `keep` of the old ones (and a joining row last);
        only filled positions are copied."""
        old = self.host_kv()
        filled = int(self.lengths[keep].max()) if keep else 0
        rows = len(keep) + (joining is not None)
        kv = []
        for i, k in enumerate(old):
            buffer = np.zeros((rows, k.shape[1], capacity, k.shape[3]), k.dtype)
            buffer[: len(keep), :, :filled] = k[keep, :, :filled]
            if joining is not None:
                buffer[-1, :, : self.lengths[-1]] = joining[i][0, :, : self.lengths[-1]]
            kv.append(buffer)
        self.kv, self.capacity = kv, capacity


def _on_device(kv: list[Any], device: str) -> list[Any]:
    return [ort.OrtValue.ortvalue_from_numpy(k, device) if isinstance(k, np.ndarray) else k for k in kv]


def _host(kv: list[Any]) -> list[Array]:
    # A copy: on CPU, OrtValue.numpy() is a view of memory that is freed with the OrtValue.
    return [k if isinstance(k, np.ndarray) else np.array(k.numpy()) for k in kv]


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if isinstance(value, np.ndarray) else tuple(value.shape())


def _next_input(seq: Sequence) -> Array:
    if seq.next_input is None:
        raise ValueError("a sequence joins a batch only after its prefill")
    return seq.next_input
