"""The GPT's KV cache of a voice's conditioning, kept for the next request with that voice.

Every prompt starts with the voice's conditioning latents (32 positions of ~100 in a typical
prefill) and position embeddings are added outside the graph, so under causal attention those
positions' keys and values depend on the voice alone. Prefill always runs in two calls, the
conditioning and then the text, whether the first is cached or not: a request's numbers never
depend on what ran before it (a call of another shape rounds differently). Kept per process, least
recently used first out, keyed by the latents' bytes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KV = list[Any]


@dataclass(frozen=True)
class PrefixCacheStats:
    voices: int
    capacity: int
    hits: int
    misses: int


class PrefixCache:
    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be at least 0")
        self.capacity = capacity
        self._entries: OrderedDict[bytes, KV] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, prefix_bytes: bytes, compute: Callable[[], KV]) -> KV:
        """The cached KV of these conditioning positions, else `compute()` (kept for next time).
        The arrays are shared: callers must not write into them (ONNX Runtime only reads inputs)."""
        key = hashlib.blake2b(prefix_bytes, digest_size=16).digest()
        with self._lock:
            kv = self._entries.get(key)
            if kv is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return kv
            self.misses += 1
        kv = compute()  # outside the lock: a slow prefill must not hold up hits for other voices
        if self.capacity:
            with self._lock:
                self._entries[key] = kv
                self._entries.move_to_end(key)
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
        return kv

    def stats(self) -> PrefixCacheStats:
        with self._lock:
            return PrefixCacheStats(len(self._entries), self.capacity, self.hits, self.misses)
