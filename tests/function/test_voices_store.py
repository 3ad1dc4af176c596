"""Voice store: LRU bound, persistence shared through a local directory and a bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from function.storage import GcsStore, LocalStore, ObjectStore
from function.voices import VoiceNotFoundError, VoiceStore


def voices(store: ObjectStore, capacity: int = 2) -> VoiceStore[bytes]:
    return VoiceStore(store, capacity=capacity, loads=lambda b: b"loaded:" + b, dumps=lambda v: v, model="m")


def test_add_get_list_delete(tmp_path: Path) -> None:
    vs = voices(LocalStore(tmp_path))
    info = vs.add(b"cond", name="rahim", reference_seconds=4.2)
    assert info.voice_id.startswith("voice_") and info.name == "rahim"
    assert vs.get(info.voice_id) == b"cond"  # from memory
    assert [i.voice_id for i in vs.list()] == [info.voice_id]
    assert vs.info(info.voice_id).reference_seconds == 4.2
    vs.delete(info.voice_id)
    with pytest.raises(VoiceNotFoundError):
        vs.get(info.voice_id)
    with pytest.raises(VoiceNotFoundError):
        vs.delete(info.voice_id)
    assert vs.list() == []


def test_lru_is_bounded_and_misses_read_the_store(tmp_path: Path) -> None:
    vs = voices(LocalStore(tmp_path), capacity=2)
    ids = [vs.add(bytes([i]), name=None, reference_seconds=3).voice_id for i in range(3)]
    assert vs.cached_ids() == ids[1:]
    assert vs.get(ids[0]) == b"loaded:\x00"  # evicted: read back from the store
    assert vs.cached_ids() == [ids[2], ids[0]]


@pytest.mark.parametrize("bad", ["../etc/passwd", "voice_", "VOICE_AAAAAAAAAAAAAAAAAAAA", ""])
def test_malformed_ids_are_unknown(tmp_path: Path, bad: str) -> None:
    with pytest.raises(VoiceNotFoundError):
        voices(LocalStore(tmp_path)).get(bad)


def test_a_voice_made_on_one_instance_is_used_on_another(bucket: Any) -> None:
    first = voices(GcsStore(bucket.name, "voices", client=bucket.client))
    second = voices(GcsStore(bucket.name, "voices", client=bucket.client))
    vid = first.add(b"shared", name=None, reference_seconds=5).voice_id
    assert second.get(vid) == b"loaded:shared"
    assert [i.voice_id for i in second.list()] == [vid]
    second.delete(vid)
    assert first.list() == []
    with pytest.raises(VoiceNotFoundError):
        first.get(vid)  # still in first's LRU, but deleted everywhere
    assert vid not in first.cached_ids()


def test_a_cached_voice_survives_a_store_outage(tmp_path: Path) -> None:
    from function.storage import StorageError

    class Flaky(LocalStore):
        down = False

        def exists(self, key: str) -> bool:
            if self.down:
                raise StorageError("bucket unreachable")
            return super().exists(key)

    store = Flaky(tmp_path)
    vs = voices(store)
    vid = vs.add(b"cond", name=None, reference_seconds=3).voice_id
    store.down = True
    assert vs.get(vid) == b"cond"
