"""A manifest line's reference clip (`speaker_wav_uri`) as a voice: where the URI points (gs://,
s3://, an absolute path, or a path beside the manifest), read within the request size limit and
only from a regular file, each clip cloned once per task (a small cache keyed by the object's
fingerprint): a newsroom reads every article with one anchor's clip."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable

from function.engine import Voice
from function.service.errors import InvalidInput
from function.service.speech import SpeechService
from function.storage import ObjectNotFoundError, ObjectStore, StorageError, check_key

_VOICE_CACHE = 32
# The bucket names both clouds accept (GCS: 3-63 characters of a-z 0-9 - _ ., dotted names up to
# 222; S3: 3-63 of a-z 0-9 - .), starting and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


class ReferenceClips:
    """Thread-safe: the batch workers share one."""

    def __init__(
        self,
        inputs: ObjectStore,
        service: SpeechService,
        limit: int,
        stores: Callable[[str], ObjectStore],
    ) -> None:
        self.inputs = inputs  # where the manifests are: a relative URI is read from there
        self.service = service
        self.limit = limit  # TTS_MAX_REQUEST_BYTES: what an HTTP upload may be
        self._stores = stores
        self._clip_stores: dict[str, ObjectStore] = {}
        self._voices: OrderedDict[tuple[str, str], Voice] = OrderedDict()
        self._lock = threading.Lock()

    def voice(self, uri: str, *, beside: str) -> Voice:
        """The voice of the clip at `uri`, given in the manifest whose key is `beside`."""
        store, key = self._location(uri, beside)
        try:
            stat = store.stat(key)
        except ObjectNotFoundError as exc:  # absent, or not a regular file (a directory, a FIFO)
            raise InvalidInput(f"speaker_wav_uri {uri!r}: {exc}", code="reference_not_found") from None
        limit = self.limit
        too_large = InvalidInput(
            f"speaker_wav_uri {uri!r} is over the limit of {limit} bytes (TTS_MAX_REQUEST_BYTES): "
            "send a 2-30 s clip",
            code="reference_too_large",
        )
        if stat.size > limit:
            raise too_large
        if stat.size == 0:
            raise InvalidInput(f"speaker_wav_uri {uri!r} is empty", code="invalid_speaker")
        cache_key = (store.url(key), stat.fingerprint)
        with self._lock:
            voice = self._voices.get(cache_key)
            if voice is not None:
                self._voices.move_to_end(cache_key)
                return voice
        try:
            clip = store.read_bytes(key, limit=limit)  # it may have grown since the stat
        except ObjectNotFoundError as exc:  # deleted or replaced since the stat
            raise InvalidInput(f"speaker_wav_uri {uri!r}: {exc}", code="reference_not_found") from None
        if len(clip) > limit:
            raise too_large
        voice = self.service.voice_from_clip(clip)
        with self._lock:
            self._voices[cache_key] = voice
            while len(self._voices) > _VOICE_CACHE:
                self._voices.popitem(last=False)
        return voice

    def _location(self, uri: str, beside: str) -> tuple[ObjectStore, str]:
        bad = InvalidInput(
            f"speaker_wav_uri {uri!r} is not usable: give gs:// or s3://BUCKET/OBJECT, an absolute path, or "
            "a relative path beside the manifest (no '..')",
            code="invalid_speaker",
        )
        if not uri.isprintable():  # a NUL or another control character: no store takes it
            raise bad
        if uri.startswith(("gs://", "s3://")):  # both schemes are 5 characters
            bucket, _, key = uri[5:].partition("/")
            if not _BUCKET.fullmatch(bucket):
                raise bad
            root = uri[:5] + bucket
        elif "://" in uri:
            raise bad
        elif uri.startswith("/"):
            root, _, key = uri.rpartition("/")
            root = root or "/"
        else:
            folder = beside.rpartition("/")[0]
            key = f"{folder}/{uri}" if folder else uri
            root = ""
        try:
            check_key(key)
        except StorageError:
            raise bad from None
        if not root:
            return self.inputs, key
        with self._lock:
            store = self._clip_stores.get(root)
            if store is None:
                store = self._clip_stores[root] = self._stores(root)
        return store, key
