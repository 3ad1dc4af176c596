"""Voice store: LRU bound, persistence shared through a local directory and a bucket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from function.storage import LocalStore, ObjectStore
from function.storage.gcs import GcsStore
from function.voices import Owner, VoiceNameTakenError, VoiceNotFoundError, VoiceStore, owner_id


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


# ---- names ---------------------------------------------------------------------------------------
def test_a_name_is_unique_found_and_freed_by_delete(tmp_path: Path) -> None:
    vs = voices(LocalStore(tmp_path))
    first = vs.add(b"a", name="মিতা", reference_seconds=3.0)
    with pytest.raises(VoiceNameTakenError):
        vs.add(b"b", name="মিতা", reference_seconds=3.0)
    assert vs.find("মিতা") == first
    # NFC and NFD spell the same name: one name.
    other = vs.add(b"c", name="caf\u00e9", reference_seconds=3.0)
    with pytest.raises(VoiceNameTakenError):
        vs.add(b"d", name="cafe\u0301", reference_seconds=3.0)
    assert vs.find("cafe\u0301") == other
    assert [v.name for v in vs.list()] == ["মিতা", "caf\u00e9"]  # the claims are not voices
    vs.delete(first.voice_id)
    with pytest.raises(VoiceNotFoundError):
        vs.find("মিতা")
    again = vs.add(b"e", name="মিতা", reference_seconds=3.0)
    assert vs.find("মিতা") == again


def test_two_instances_racing_for_a_name_get_one_voice(tmp_path: Path) -> None:
    """The claim is a create-if-absent write: of many instances adding the same name at once,
    exactly one succeeds."""
    import threading

    results: list[str] = []
    barrier = threading.Barrier(8)

    def add(i: int) -> None:
        vs = voices(LocalStore(tmp_path))  # each thread its own instance, one shared store
        barrier.wait()
        try:
            vs.add(bytes([i]), name="anchor", reference_seconds=3.0)
            results.append("ok")
        except VoiceNameTakenError:
            results.append("taken")

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["taken"] * 7
    assert [v.name for v in voices(LocalStore(tmp_path)).list()] == ["anchor"]


def test_voices_saved_before_names_were_claimed_are_found_by_name(tmp_path: Path) -> None:
    vs = voices(LocalStore(tmp_path))
    old = vs.add(b"a", name="legacy", reference_seconds=3.0)
    for key in LocalStore(tmp_path).list_keys("names"):
        LocalStore(tmp_path).delete(key)  # as an older release stored it: no claim object
    assert vs.find("legacy") == old


def test_a_claim_left_by_a_crash_is_taken_over_once_it_is_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    store = LocalStore(tmp_path)
    vs = voices(store)
    made = vs.add(b"a", name="anchor", reference_seconds=3.0)
    store.delete(f"{made.voice_id}.json")  # the voice never finished (crash between claim and record)
    store.delete(f"{made.voice_id}.voice")
    # A fresh claim may be a voice still being written elsewhere: not taken over yet.
    with pytest.raises(VoiceNameTakenError):
        vs.add(b"b", name="anchor", reference_seconds=3.0)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert vs.add(b"b", name="anchor", reference_seconds=3.0).name == "anchor"


def test_the_bucket_claim_is_a_generation_match_precondition() -> None:
    """Cloud Storage decides create-if-absent (ifGenerationMatch=0); the emulator ignores
    preconditions, so the request itself is what is checked here."""
    from google.api_core import exceptions as gexc

    calls: list[dict[str, Any]] = []

    class Blob:
        def upload_from_string(self, data: bytes, **kw: Any) -> None:
            calls.append(kw)
            if len(calls) > 1:
                raise gexc.PreconditionFailed("exists")

    class Bucket:
        def blob(self, name: str) -> Blob:
            return Blob()

    class Client:
        def bucket(self, name: str) -> Bucket:
            return Bucket()

    store = GcsStore("b", "p", client=Client())
    assert store.create("names/x.json", b"{}") is True
    assert store.create("names/x.json", b"{}") is False
    assert all(kw["if_generation_match"] == 0 for kw in calls)


# ---- owners ------------------------------------------------------------------------------------
def test_each_owner_sees_uses_and_deletes_only_its_own_voices(tmp_path: Path) -> None:
    alice, bob = Owner(owner_id("alice-key-0123456789")), Owner(owner_id("bob-key-0123456789ab"))
    admin = Owner(owner_id("admin-key-0123456789"), admin=True)
    vs = voices(LocalStore(tmp_path))
    a = vs.add(b"a", name="anchor", reference_seconds=3.0, owner=alice.id)
    b = vs.add(b"b", name="anchor", reference_seconds=3.0, owner=bob.id)  # names are per owner
    assert a.owner == alice.id and alice.id.startswith("key_") and "alice" not in alice.id
    assert [v.voice_id for v in vs.list(alice)] == [a.voice_id]
    assert vs.find("anchor", alice) == a and vs.find("anchor", bob) == b
    for call in (vs.info, vs.get, vs.delete):
        with pytest.raises(VoiceNotFoundError):
            call(a.voice_id, bob)  # exactly like a voice that does not exist
    # A fresh instance (nothing cached) refuses it too, and the cached path as well.
    other_instance = voices(LocalStore(tmp_path))
    with pytest.raises(VoiceNotFoundError):
        other_instance.get(a.voice_id, bob)
    assert other_instance.get(a.voice_id, alice) == b"loaded:a"
    with pytest.raises(VoiceNotFoundError):
        other_instance.get(a.voice_id, bob)
    assert {v.voice_id for v in vs.list(admin)} == {a.voice_id, b.voice_id}
    vs.delete(a.voice_id, alice)
    assert [v.voice_id for v in vs.list(admin)] == [b.voice_id]


def test_voices_saved_before_owners_belong_to_the_legacy_owner(tmp_path: Path) -> None:
    import json

    vs = voices(LocalStore(tmp_path))
    old = vs.add(b"a", name=None, reference_seconds=3.0)
    record = json.loads((tmp_path / f"{old.voice_id}.json").read_text())
    del record["owner"]  # as a release before owners wrote it
    (tmp_path / f"{old.voice_id}.json").write_text(json.dumps(record))
    heir = Owner(owner_id("heir-key-0123456789"), legacy=True)
    stranger = Owner(owner_id("someone-else-0123456"))
    fresh = voices(LocalStore(tmp_path))
    assert fresh.get(old.voice_id, heir) == b"loaded:a"
    assert [v.voice_id for v in fresh.list(heir)] == [old.voice_id]
    assert fresh.list(stranger) == []
    with pytest.raises(VoiceNotFoundError):
        voices(LocalStore(tmp_path)).get(old.voice_id, stranger)


class CountingStore(LocalStore):
    """Counts the voice records read: what one caller's listing costs."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.records_read = 0

    def read_bytes(self, key: str, *, limit: int | None = None) -> bytes:
        if key.endswith(".json") and "/" not in key:
            self.records_read += 1
        return super().read_bytes(key, limit=limit)


def test_an_owners_listing_reads_only_its_own_records(tmp_path: Path) -> None:
    """Issue 23: listing voices, or a name lookup that missed, read every owner's records."""
    busy, quiet = Owner(owner_id("busy-key-0123456789a")), Owner(owner_id("quiet-key-0123456789"))
    store = CountingStore(tmp_path)
    vs = voices(store)
    assert vs.list(quiet) == []  # a new store: the one-time backfill of older voices has nothing to do
    for i in range(40):
        vs.add(bytes([i]), name=f"v{i}", reference_seconds=3.0, owner=busy.id)
    mine = vs.add(b"q", name="only", reference_seconds=3.0, owner=quiet.id)
    store.records_read = 0
    assert [v.voice_id for v in vs.list(quiet)] == [mine.voice_id]
    assert store.records_read == 1
    store.records_read = 0
    with pytest.raises(VoiceNotFoundError):
        vs.find("no-such-name", quiet)
    assert store.records_read <= 1
    vs.delete(mine.voice_id, quiet)
    assert vs.list(quiet) == [] and len(vs.list(busy)) == 40


def test_voices_stored_before_the_owner_index_are_listed_after_a_one_time_backfill(tmp_path: Path) -> None:
    owner = Owner(owner_id("early-key-0123456789"))
    first = voices(LocalStore(tmp_path)).add(b"a", name="early", reference_seconds=3.0, owner=owner.id)
    for key in LocalStore(tmp_path).list_keys("owners"):
        LocalStore(tmp_path).delete(key)  # as a release before the index stored it
    store = CountingStore(tmp_path)
    fresh = voices(store)
    assert [v.voice_id for v in fresh.list(owner)] == [first.voice_id]  # the backfill scanned once
    store.records_read = 0
    assert [v.voice_id for v in voices(store).list(owner)] == [first.voice_id]
    assert store.records_read == 1  # later listings, on any instance, read the index


def test_a_voices_default_dictionaries_round_trip_and_old_records_have_none(tmp_path: Path) -> None:
    vs = voices(LocalStore(tmp_path))
    info = vs.add(
        b"cond",
        name=None,
        reference_seconds=3.0,
        owner="key_a",
        dictionaries=(("pd_1", "v2"), ("pd_2", None)),
    )
    assert vs.info(info.voice_id).dictionaries == (("pd_1", "v2"), ("pd_2", None))
    assert vs.set_dictionaries(info.voice_id, ()).dictionaries == ()
    assert vs.get_with_info(info.voice_id)[1].dictionaries == ()  # a cached voice reads its metadata again
    record = tmp_path / f"{info.voice_id}.json"
    old = {k: v for k, v in json.loads(record.read_text()).items() if k != "dictionaries"}
    record.write_text(json.dumps(old))  # as releases before dictionaries wrote it
    assert vs.info(info.voice_id).dictionaries == ()
