"""Run one task's share of every pending manifest through the speech service.

For each manifest under the input location: skip it when its `_SUMMARY.json` was made from the
same manifest object; otherwise parse it, take the lines this task owns (`shard_of`), and
synthesize them several at once (each worker is one row of the scheduler's decode batch). An
item whose result says `ok` for the same input is skipped. Audio is written before its result,
each with one atomic write, so a killed task leaves nothing a rerun would trust. The task that
finds every line of a manifest answered writes its summary.

Per-item problems (bad text, unknown voice, undecodable clip) become `failed` results; a store
that stays unreachable raises `RetryableError`, which the command turns into a non-zero exit so
Cloud Run retries the task.

With `stop_at` (a time.monotonic() value: on AWS Lambda, the invocation's deadline less a margin)
no item starts after that moment; items already running finish and write their results, the rest
are counted as `deferred` and the manifest keeps no summary, so the next run takes up exactly them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from function.align.captions import to_srt, to_vtt
from function.audio import encode_audio
from function.batch.clips import ReferenceClips
from function.batch.manifest import Entry, Item, LineFailure, iter_manifest, shard_of
from function.batch.progress import Progress
from function.batch.results import MANIFEST_SUFFIX, RetryableError, read_json, summarized
from function.batch.summary import FAILURES, SUMMARY, SummaryTally
from function.config import BatchSettings
from function.quality.assess import Quality
from function.service.errors import (
    DictionaryNotFound,
    InvalidInput,
    ServiceError,
    VoiceNotFound,
    VoiceUnusable,
)
from function.service.pronunciation import Locator
from function.service.speech import SpeechRequest, SpeechService
from function.storage import ObjectNotFoundError, ObjectStore, StorageError, check_key, open_store

log = logging.getLogger("function.batch")
_SUMMARY_SLICE = 256
_ITEM_ERRORS = (InvalidInput, VoiceNotFound, VoiceUnusable, DictionaryNotFound)


@dataclass
class RunReport:
    manifests: int = 0  # found under the input location
    manifests_skipped: int = 0  # summarized from the same manifest object before: not read
    items: int = 0  # lines this task owns in the manifests it read
    synthesized: int = 0
    skipped: int = 0  # an earlier `ok` result for the same input stands
    failed: int = 0
    deferred: int = 0  # not started before `stop_at`: left for the next run
    audio_seconds: float = 0.0
    summaries: list[str] = field(default_factory=list)


@dataclass
class _Manifest:
    key: str
    stem: str
    fingerprint: str
    data: bytes  # the manifest itself, until this task's lines are handed out
    existing: set[str]
    # Every line's result name -> its input_sha256: what the summary checks. The lines themselves
    # are parsed again when handed out, so a manifest costs its bytes and this, not its items.
    names: dict[str, str] = field(default_factory=dict)
    left: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BatchRunner:
    def __init__(
        self,
        settings: BatchSettings,
        service: SpeechService,
        *,
        inputs: ObjectStore,
        outputs: ObjectStore,
        workers: int,
        model: dict[str, str],
        languages: list[str],
        progress: Progress | None = None,
        stores: Callable[[str], ObjectStore] = open_store,
        stop_at: float | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.inputs = inputs
        self.outputs = outputs
        self.workers = workers
        self.model = model  # name, version, variant: part of every input_sha256
        self.model_key = "/".join(model[k] for k in ("name", "version", "variant"))
        self.languages = languages
        self.progress = progress or Progress()
        self.stop_at = stop_at
        self.clips = ReferenceClips(inputs, service, settings.serving.max_request_bytes, stores)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._fatal: BaseException | None = None
        self.report = RunReport()

    # ---- the run -----------------------------------------------------------------------------
    def run(self) -> RunReport:
        s = self.settings
        try:
            keys = [k for k in self.inputs.list_keys() if k.endswith(MANIFEST_SUFFIX)]
        except StorageError as exc:
            raise RetryableError(f"cannot list manifests under {self.inputs.location}: {exc}") from exc
        self.report.manifests = len(keys)
        log.info(
            "task %d/%d: %d manifest(s) found",
            s.task_index,
            s.task_count,
            len(keys),
            extra={"event": "batch_start", "run": s.run_id, "task": s.task_index, "manifests": len(keys)},
        )
        self.progress.start(0)
        not_ours: list[_Manifest] = []
        # Manifests are read one at a time and their lines handed out as workers free up, so a
        # task holds one manifest's bytes and a few parsed items ahead, whatever the manifests' size.
        ahead = threading.BoundedSemaphore(2 * self.workers)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="batch") as pool:
            for key in keys:
                if self._stop.is_set():
                    break
                m = self._open(key)
                if m is None:
                    continue
                mine = self._index(m)
                self.report.items += mine
                self.progress.extend(mine)
                if not mine:
                    not_ours.append(m)
                    continue
                for entry in self._entries(m):
                    if shard_of(entry.name, s.task_count) != s.task_index:
                        continue
                    ahead.acquire()
                    pool.submit(self._guarded, m, entry, ahead)
                m.data = b""
        for m in not_ours:
            self._guarded_summary(m)  # no line of it is this task's: the other tasks may be done
        if self._fatal is not None:
            raise RetryableError(str(self._fatal)) from self._fatal
        self.progress.finish()
        if self.report.deferred:
            log.warning(
                "task %d stopped at its deadline: %d item(s) left for the next run",
                s.task_index,
                self.report.deferred,
                extra={"event": "batch_deadline", "run": s.run_id, "deferred": self.report.deferred},
            )
        return self.report

    def _entries(self, m: _Manifest) -> Iterator[Entry]:
        s = self.settings
        return iter_manifest(
            m.data, model_key=self.model_key, languages=self.languages, max_text_chars=s.max_text_chars
        )

    def _index(self, m: _Manifest) -> int:
        """Every line's result name and input hash; the number of lines this task owns."""
        s = self.settings
        mine = 0
        for entry in self._entries(m):
            m.names[entry.name] = entry.input_sha256
            mine += shard_of(entry.name, s.task_count) == s.task_index
        m.left = mine
        return mine

    def _open(self, key: str) -> _Manifest | None:
        """The manifest to work on, or None when its summary was made from this very object."""
        stem = key[: -len(MANIFEST_SUFFIX)]
        try:
            check_key(f"{stem}/{SUMMARY}")
        except StorageError:
            log.warning("manifest %r skipped: its name leaves no folder for results", key)
            return None
        try:
            existing = set(self.outputs.list_keys(stem))
            fingerprint = self.inputs.stat(key).fingerprint
            if summarized(self.outputs, stem, fingerprint, existing):
                self.report.manifests_skipped += 1
                log.info("manifest %s is already summarized", key, extra={"event": "manifest_done"})
                return None
            data = self.inputs.read_bytes(key)
        except ObjectNotFoundError:
            return None  # deleted since the listing
        except StorageError as exc:
            raise RetryableError(f"cannot read manifest {self.inputs.url(key)}: {exc}") from exc
        return _Manifest(key, stem, fingerprint, data, existing)

    def _guarded(self, m: _Manifest, entry: Entry, ahead: threading.BoundedSemaphore) -> None:
        try:
            self._one(m, entry)
        finally:
            ahead.release()

    def _one(self, m: _Manifest, entry: Entry) -> None:
        if self._stop.is_set():
            return
        if self.stop_at is not None and time.monotonic() >= self.stop_at:
            with self._lock:
                self.report.deferred += 1  # m.left stays above 0: no summary until a later run
            return
        try:
            status, audio_s = self._do(m, entry)
            self.progress.advance(status, audio_s)
            with m.lock:
                m.left -= 1
                last = m.left == 0
        except Exception as exc:  # a store failure, or a bug: stop the task, let Cloud Run retry
            self._fail(exc, f"item {entry.name!r} of {m.key}")
            return
        if last:
            self._guarded_summary(m)

    def _guarded_summary(self, m: _Manifest) -> None:
        try:
            self._summarize(m)
        except Exception as exc:
            self._fail(exc, f"summary of {m.key}")

    def _fail(self, exc: Exception, where: str) -> None:
        with self._lock:
            if self._fatal is None:
                self._fatal = exc
        self._stop.set()
        if isinstance(exc, (StorageError, RetryableError)):
            log.error("stopping: %s: %s", where, exc, extra={"event": "batch_error"})
        else:
            log.exception("stopping: %s failed unexpectedly", where, extra={"event": "batch_error"})

    # ---- one entry ---------------------------------------------------------------------------
    def _do(self, m: _Manifest, entry: Entry) -> tuple[str, float]:
        result_key = f"{m.stem}/{entry.name}.json"
        started = _now()
        if isinstance(entry, LineFailure):
            return self._failed(m, entry, result_key, started, entry.code, entry.message)
        previous = self._previous(m, result_key)
        audio_key = f"{m.stem}/{entry.id}.{entry.format}"
        if (
            previous.get("status") == "ok"
            and previous.get("input_sha256") == entry.input_sha256
            and audio_key in m.existing
        ):
            with self._lock:
                self.report.skipped += 1
            return self._logged(m, entry, "skipped", float(previous.get("audio_seconds") or 0.0), 0.0, None)
        t0 = time.perf_counter()
        try:
            speech = self.service.synthesize(self._request(m, entry))
            data = encode_audio(speech.audio, speech.sample_rate, entry.format)
        except _ITEM_ERRORS as exc:
            return self._failed(m, entry, result_key, started, exc.code, exc.message)
        except ServiceError as exc:  # the voice store is unreachable: a retry can fix it
            raise RetryableError(exc.message) from exc
        except StorageError:
            raise
        except Exception as exc:  # a bug or a runtime failure on this input: the item fails, the task goes on
            log.exception("item %r of %s failed unexpectedly", entry.id, m.key)
            return self._failed(
                m, entry, result_key, started, "synthesis_failed", f"synthesis failed: {type(exc).__name__}"
            )
        synthesis_s = time.perf_counter() - t0
        self.outputs.write_bytes(audio_key, data)  # audio first: an `ok` result always has its file
        record = self._record(entry, "ok", started, audio_s=speech.seconds, synthesis_s=synthesis_s)
        record["audio"] = f"{entry.id}.{entry.format}"
        record["bytes"] = len(data)
        record["quality"] = speech.quality.to_json() if speech.quality else None
        if speech.timing is not None:  # captions beside the audio, before the result that names them
            # Subtitles show the text as written (১২৩, not একশো তেইশ) where it is plain text.
            words = speech.timing.input_words or speech.timing.words
            self.outputs.write_bytes(f"{m.stem}/{entry.id}.srt", to_srt(words).encode())
            self.outputs.write_bytes(f"{m.stem}/{entry.id}.vtt", to_vtt(words).encode())
            record["captions"] = {
                "srt": f"{entry.id}.srt",
                "vtt": f"{entry.id}.vtt",
                "alignment": speech.timing.alignment,
            }
        self._write_result(result_key, record)
        stale = previous.get("audio")
        if isinstance(stale, str) and stale != record["audio"]:  # the item's format changed
            self.outputs.delete(f"{m.stem}/{stale}")
        with self._lock:
            self.report.synthesized += 1
            self.report.audio_seconds += speech.seconds
        return self._logged(m, entry, "ok", speech.seconds, synthesis_s, None, speech.quality)

    def _failed(
        self, m: _Manifest, entry: Entry, result_key: str, started: str, code: str, message: str
    ) -> tuple[str, float]:
        self._write_result(result_key, self._record(entry, "failed", started, error=(code, message)))
        return self._logged(m, entry, "failed", 0.0, 0.0, code)

    def _previous(self, m: _Manifest, result_key: str) -> dict[str, Any]:
        return self._read_json(result_key) if result_key in m.existing else {}

    def _request(self, m: _Manifest, item: Item) -> SpeechRequest:
        voice = self.clips.voice(item.speaker_wav_uri, beside=m.key) if item.speaker_wav_uri else None
        return SpeechRequest(
            item.text,
            item.language,
            voice_id=item.voice_id,
            voice=voice,
            params=item.params,
            dictionaries=tuple(Locator(d, v) for d, v in item.dictionaries),
            timestamps=True,  # for the captions
        )

    def _record(
        self,
        entry: Entry,
        status: str,
        started: str,
        *,
        error: tuple[str, str] | None = None,
        audio_s: float = 0.0,
        synthesis_s: float = 0.0,
    ) -> dict[str, Any]:
        s = self.settings
        return {
            "id": entry.id,
            "status": status,
            "error": {"code": error[0], "message": error[1]} if error else None,
            "input_sha256": entry.input_sha256,
            "audio_seconds": round(audio_s, 3),
            "synthesis_s": round(synthesis_s, 3),
            "line": entry.line,
            "format": entry.format if isinstance(entry, Item) else None,
            "metadata": entry.metadata if isinstance(entry, Item) else None,
            "model": self.model,
            "run": s.run_id,
            "task": s.task_index,
            "attempt": s.attempt,
            "started_at": started,
            "finished_at": _now(),
            "quality": None,
        }

    def _write_result(self, key: str, record: dict[str, Any]) -> None:
        self.outputs.write_bytes(
            key, (json.dumps(record, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        )

    def _logged(
        self,
        m: _Manifest,
        entry: Entry,
        status: str,
        audio_s: float,
        synthesis_s: float,
        code: str | None,
        quality: Quality | None = None,
    ) -> tuple[str, float]:
        if status == "failed":
            with self._lock:
                self.report.failed += 1
        log.info(
            "%s %s: %s",
            m.stem,
            entry.name,
            status,
            extra={
                "event": "item",
                "manifest": m.key,
                "id": entry.id,
                "line": entry.line,
                "status": status,
                "error_code": code,
                "audio_seconds": round(audio_s, 3),
                "synthesis_s": round(synthesis_s, 3),
                "real_time_factor": round(synthesis_s / audio_s, 4)
                if audio_s > 0 and synthesis_s > 0
                else None,
                "task": self.settings.task_index,
                **(quality.log_fields() if quality else {}),
            },
        )
        return status, audio_s

    # ---- the summary -------------------------------------------------------------------------
    def _summarize(self, m: _Manifest) -> None:
        """Write `_SUMMARY.json` when every line of the manifest has a result for its current input."""
        present = set(self.outputs.list_keys(m.stem))
        keys = [f"{m.stem}/{name}.json" for name in m.names]
        if not set(keys) <= present:
            return  # another task still has lines to do; the last one to finish writes it
        with contextlib.closing(SummaryTally(self.settings.run_id)) as tally:
            names = list(m.names)
            with ThreadPoolExecutor(max_workers=8) as pool:
                # A slice at a time: the results of a 100,000-line manifest are never all in memory.
                for at in range(0, len(keys), _SUMMARY_SLICE):
                    records = pool.map(self._read_json, keys[at : at + _SUMMARY_SLICE])
                    for name, record in zip(names[at : at + _SUMMARY_SLICE], records, strict=True):
                        if record.get("input_sha256") != m.names[name]:
                            return  # a result from an earlier version of the manifest is being redone
                        tally.add(record)
            head = {"manifest": self.inputs.url(m.key), "manifest_fingerprint": m.fingerprint}
            summary = tally.summary({**head, "model": self.model}, _now())
            if summary["failures_file"]:
                self.outputs.write_bytes(f"{m.stem}/{FAILURES}", tally.failures_jsonl())
        self._write_result(f"{m.stem}/{SUMMARY}", summary)
        with self._lock:
            self.report.summaries.append(m.key)
        log.info(
            "manifest %s done: %d ok, %d failed",
            m.key,
            summary["ok"],
            summary["failed"],
            extra={
                "event": "manifest_summary",
                **{k: summary[k] for k in ("items", "ok", "failed", "skipped")},
            },
        )

    def _read_json(self, key: str) -> dict[str, Any]:
        return read_json(self.outputs, key)
