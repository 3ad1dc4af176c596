"""The voice's conditioning KV is computed once per voice and reused: a request sounds the same
whether its voice's conditioning was cached or not, and the cache stays within its size."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from function.engine import Engine, SynthesisParams, Voice
from function.engine.prefix_cache import PrefixCache

TEXT = "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি।"


def _params(greedy: bool) -> SynthesisParams:
    return SynthesisParams(
        language="bn", greedy=greedy, seed=5, temperature=0.8, top_k=40, top_p=0.9, max_new_tokens=30
    )


def _voice(engine: Engine, seed: int) -> Voice:
    rng = np.random.default_rng(seed)
    return engine.make_voice((rng.standard_normal(24000 * 3) * 0.1).astype(np.float32), 24000)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_a_cached_voice_sounds_the_same_as_a_fresh_one(demo_bundle: Path, variant: str) -> None:
    cached = Engine.load(demo_bundle / variant, intra_op_threads=2, prefix_cache_voices=2)
    fresh = Engine.load(demo_bundle / variant, intra_op_threads=2, prefix_cache_voices=0)
    voice = _voice(cached, 1)
    for greedy in (True, False):
        p = _params(greedy)
        reference = fresh.generate_codes(TEXT, voice, p)
        cached.generate_codes(TEXT, voice, p)  # the first fills the cache
        hits = cached.prefix_cache_stats().hits
        # the same voice read back from storage is a new object with the same latents: still a hit
        again = Voice.from_bytes(voice.to_bytes())
        assert cached.generate_codes(TEXT, again, p) == reference
        assert cached.prefix_cache_stats().hits == hits + 1
        np.testing.assert_array_equal(cached.synthesize(TEXT, again, p), fresh.synthesize(TEXT, voice, p))
    stats = fresh.prefix_cache_stats()
    assert (stats.voices, stats.hits, stats.capacity) == (0, 0, 0)  # size 0 keeps nothing


@pytest.mark.slow
def test_the_cache_keeps_the_most_recently_used_voices(demo_bundle: Path) -> None:
    engine = Engine.load(demo_bundle / "int8", intra_op_threads=2, prefix_cache_voices=2)
    a, b, c = (_voice(engine, seed) for seed in (1, 2, 3))
    p = _params(True)
    for voice in (a, b, a, c):  # c pushes out b, the least recently used
        engine.generate_codes("আমি", voice, p)
    before = engine.prefix_cache_stats()
    assert (before.voices, before.hits, before.misses) == (2, 1, 3)
    engine.generate_codes("আমি", a, p)
    engine.generate_codes("আমি", b, p)
    after = engine.prefix_cache_stats()
    assert (after.hits - before.hits, after.misses - before.misses, after.voices) == (1, 1, 2)


def test_prefix_cache_computes_a_key_once_and_evicts_in_lru_order() -> None:
    cache = PrefixCache(2)
    calls: list[bytes] = []

    def compute(key: bytes) -> list[np.ndarray]:
        calls.append(key)
        return [np.frombuffer(key, np.uint8)]

    for key in (b"a", b"b", b"a", b"c", b"b"):
        value = cache.get(key, lambda key=key: compute(key))
        assert bytes(value[0]) == key
    assert calls == [b"a", b"b", b"c", b"b"]  # "a" hit; "c" evicted "b"; "b" computed again
    assert cache.stats().voices == 2 and (cache.stats().hits, cache.stats().misses) == (1, 4)
    with pytest.raises(ValueError):
        PrefixCache(-1)


def test_prefix_cache_of_size_zero_computes_every_time_and_is_thread_safe() -> None:
    off = PrefixCache(0)
    assert [off.get(b"x", lambda: [np.zeros(1)]) for _ in range(3)] and off.stats().misses == 3
    cache = PrefixCache(8)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for j in range(200):
                key = bytes([(i + j) % 12])
                assert bytes(cache.get(key, lambda key=key: [np.frombuffer(key, np.uint8)])[0]) == key
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert not errors and stats.voices == 8 and stats.hits + stats.misses == 800
