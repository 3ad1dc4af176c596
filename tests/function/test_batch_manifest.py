"""The batch contract without a model: manifest lines, sharding, settings, and the runner's rules
(skip, publish order, summary, retryable failures) driven by a stand-in speech service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from function.batch.manifest import Item, LineFailure, parse_manifest, shard_of
from function.batch.results import RetryableError
from function.batch.runner import BatchRunner
from function.batch.summary import FAILURES, MAX_LISTED, SUMMARY
from function.config import ConfigError, load_batch_settings
from function.service.errors import StoreUnavailable, VoiceNotFound
from function.storage import LocalStore, StorageError

ROOT = Path(__file__).resolve().parents[2]

LANGS = ("bn", "en")


def parse(lines: list[Any], *, model: str = "m/1/int8", max_chars: int = 1000) -> list[Item | LineFailure]:
    raw = b"\n".join(x if isinstance(x, bytes) else json.dumps(x).encode() for x in lines)
    return parse_manifest(raw, model_key=model, languages=LANGS, max_text_chars=max_chars)


def good(item_id: str = "a1", **extra: Any) -> dict[str, Any]:
    return {"id": item_id, "text": "আমি গান গাই।", "voice_id": "voice_x", **extra}


# ---- manifest lines ------------------------------------------------------------------------------
def test_a_good_line_becomes_an_item_with_defaults() -> None:
    [item] = parse([good(temperature=0.5, seed=7, metadata={"url": "https://x"})])
    assert isinstance(item, Item)
    assert (item.id, item.language, item.format, item.line) == ("a1", "bn", "wav", 1)
    assert item.params == {"temperature": 0.5, "seed": 7}
    assert item.metadata == {"url": "https://x"}
    assert item.name == "a1" and item.dictionaries == ()
    locators = [
        {"pronunciation_dictionary_id": "pd_1", "version_id": "v2"},
        {"pronunciation_dictionary_id": "pd_2"},
    ]
    [item] = parse([good(pronunciation_dictionary_locators=locators)])
    assert isinstance(item, Item) and item.dictionaries == (("pd_1", "v2"), ("pd_2", None))


@pytest.mark.parametrize(
    ("line", "code", "name"),
    [
        (b"not json", "invalid_json", "_line-1"),
        (b'["a list"]', "invalid_json", "_line-1"),
        (b"\xff\xfe", "invalid_json", "_line-1"),
        (b"[" * 100_000, "invalid_json", "_line-1"),
        ({"text": "no id", "voice_id": "v"}, "invalid_id", "_line-1"),
        ({"id": "has space", "text": "t", "voice_id": "v"}, "invalid_id", "_line-1"),
        ({"id": "x" * 129, "text": "t", "voice_id": "v"}, "invalid_id", "_line-1"),
        ({"id": 5, "text": "t", "voice_id": "v"}, "invalid_id", "_line-1"),
        ({"id": "a1", "voice_id": "v"}, "missing_text", "a1"),
        ({"id": "a1", "text": "   ", "voice_id": "v"}, "missing_text", "a1"),
        ({"id": "a1", "text": "t"}, "invalid_speaker", "a1"),
        ({"id": "a1", "text": "t", "voice_id": "v", "speaker_wav_uri": "c.wav"}, "invalid_speaker", "a1"),
        (good(language="xx"), "unsupported_language", "a1"),
        (good(format="aiff"), "invalid_format", "a1"),
        (good(temperature=9), "out_of_range", "a1"),
        (good(top_k=1.5), "invalid_parameter", "a1"),
        (good(temprature=0.5), "unknown_field", "a1"),
        (good(metadata=[1]), "invalid_metadata", "a1"),
        (good(text="অ" * 1001), "text_too_long", "a1"),
        (good(pronunciation_dictionary_locators="pd_1"), "invalid_dictionary", "a1"),
        (good(pronunciation_dictionary_locators=[{"id": "pd_1"}]), "invalid_dictionary", "a1"),
        (
            good(pronunciation_dictionary_locators=[{"pronunciation_dictionary_id": "p"}] * 4),
            "invalid_dictionary",
            "a1",
        ),
    ],
)
def test_a_bad_line_fails_with_a_code_and_its_result_name(line: Any, code: str, name: str) -> None:
    [entry] = parse([line])
    assert isinstance(entry, LineFailure)
    assert (entry.code, entry.name, entry.line) == (code, name, 1)
    assert entry.message


def test_a_repeated_id_fails_on_its_later_lines_only() -> None:
    entries = parse([good("a1"), good("a2"), good("a1", text="again"), {"id": "a2", "text": ""}])
    assert [type(e).__name__ for e in entries] == ["Item", "Item", "LineFailure", "LineFailure"]
    assert [e.name for e in entries] == ["a1", "a2", "_line-3", "_line-4"]
    assert [getattr(e, "code", None) for e in entries] == [None, None, "duplicate_id", "duplicate_id"]


def test_blank_lines_and_a_byte_order_mark_are_not_items() -> None:
    raw = (
        b"\xef\xbb\xbf"
        + json.dumps(good("a1")).encode()
        + b"\n\n  \r\n"
        + json.dumps(good("a2")).encode()
        + b"\n"
    )
    entries = parse_manifest(raw, model_key="m", languages=LANGS, max_text_chars=100)
    assert [(e.name, e.line) for e in entries] == [("a1", 1), ("a2", 4)]


def test_the_input_hash_follows_content_and_model_not_key_order() -> None:
    [a] = parse([{"id": "a1", "text": "t", "voice_id": "v"}])
    [b] = parse([{"voice_id": "v", "text": "t", "id": "a1"}])
    [c] = parse([{"id": "a1", "text": "t2", "voice_id": "v"}])
    [d] = parse([{"id": "a1", "text": "t", "voice_id": "v"}], model="m/2/int8")
    assert a.input_sha256 == b.input_sha256
    assert len({a.input_sha256, c.input_sha256, d.input_sha256}) == 3


def test_sharding_is_stable_and_spreads_items() -> None:
    names = [f"item-{i}" for i in range(2000)]
    first = [shard_of(n, 4) for n in names]
    assert first == [shard_of(n, 4) for n in names]
    counts = Counter(first)
    assert set(counts) == {0, 1, 2, 3} and min(counts.values()) > 400
    assert all(shard_of(n, 1) == 0 for n in names)


# ---- settings ------------------------------------------------------------------------------------
def test_batch_locations_default_beside_the_model_bucket() -> None:
    s = load_batch_settings({"TTS_MODEL_PATH": "gs://bkt/models/x/1"}, cpu_count=8, now=0)
    assert (s.input, s.output) == ("gs://bkt/batch/in", "gs://bkt/batch/out")
    assert (s.task_index, s.task_count, s.run_id) == (0, 1, "local-19700101T000000Z")
    # One process per task takes every core.
    assert (s.serving.workers, s.serving.intra_op_threads) == (1, 8)


def test_s3_batch_locations_default_beside_the_model_bucket() -> None:
    s = load_batch_settings({"TTS_MODEL_PATH": "s3://bkt/models/x/1"}, cpu_count=8, now=0)
    assert (s.input, s.output) == ("s3://bkt/batch/in", "s3://bkt/batch/out")


def test_cloud_run_task_variables_are_read() -> None:
    env = {
        "TTS_MODEL_PATH": "gs://b/m",
        "CLOUD_RUN_TASK_INDEX": "3",
        "CLOUD_RUN_TASK_COUNT": "4",
        "CLOUD_RUN_TASK_ATTEMPT": "2",
        "CLOUD_RUN_EXECUTION": "job-abc",
    }
    s = load_batch_settings(env, cpu_count=4)
    assert (s.task_index, s.task_count, s.attempt, s.run_id) == (3, 4, 2, "job-abc")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TTS_MODEL_PATH": "/models/x"}, "TTS_BATCH_INPUT"),
        ({"TTS_MODEL_PATH": "/models/x", "TTS_BATCH_INPUT": "/in"}, "TTS_BATCH_OUTPUT"),
        (
            {"TTS_MODEL_PATH": "gs://b/m", "CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "2"},
            "CLOUD_RUN_TASK_INDEX",
        ),
        ({"TTS_MODEL_PATH": "gs://b/m", "CLOUD_RUN_TASK_COUNT": "0"}, "CLOUD_RUN_TASK_COUNT"),
        ({"TTS_MODEL_PATH": "gs://b/m", "TTS_BATCH_MAX_TEXT_CHARS": "lots"}, "TTS_BATCH_MAX_TEXT_CHARS"),
        ({"TTS_MODEL_PATH": "gs://b/m", "TTS_BATCH_INPUT": "ftp://x/in"}, "TTS_BATCH_INPUT"),
        ({"TTS_MODEL_PATH": "gs://b/m", "TTS_BATCH_OUTPUT": "s3://Not_A_Bucket/out"}, "TTS_BATCH_OUTPUT"),
    ],
)
def test_a_bad_batch_setting_names_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_batch_settings(env, cpu_count=2)


# ---- the runner with a stand-in service ----------------------------------------------------------
class FakeService:
    """Synthesizes one second of silence per item; `fail_voice` ids are unknown voices."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.store_down = False

    def synthesize(self, req: Any) -> Any:
        if self.store_down:
            raise StoreUnavailable("the voice store is unavailable; retry shortly", retry_after=5)
        if req.voice_id == "voice_missing":
            raise VoiceNotFound("no voice 'voice_missing'")
        with self.lock:
            self.calls.append(req.text)

        class Speech:
            audio = np.zeros(24000, np.float32)
            sample_rate = 24000
            seconds = 1.0
            quality = None  # quality checks off
            timing = None  # no captions

        return Speech()

    def voice_from_clip(self, clip: bytes) -> Any:
        return object()


def runner(
    tmp: Path,
    service: Any,
    *,
    index: int = 0,
    count: int = 1,
    run: str = "r1",
    outputs: Any = None,
    stop_at: float | None = None,
) -> BatchRunner:
    env = {
        "TTS_MODEL_PATH": str(tmp / "model"),
        "TTS_BATCH_INPUT": str(tmp / "in"),
        "TTS_BATCH_OUTPUT": str(tmp / "out"),
        "CLOUD_RUN_TASK_INDEX": str(index),
        "CLOUD_RUN_TASK_COUNT": str(count),
        "CLOUD_RUN_EXECUTION": run,
    }
    settings = load_batch_settings(env, cpu_count=2)
    return BatchRunner(
        settings,
        service,
        inputs=LocalStore(tmp / "in"),
        outputs=outputs or LocalStore(tmp / "out"),
        workers=3,
        model={"name": "m", "version": "1", "variant": "int8"},
        languages=list(LANGS),
        stop_at=stop_at,
    )


def write_manifest(tmp: Path, name: str, lines: list[Any]) -> Path:
    path = tmp / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_shards_split_the_work_and_the_last_task_writes_the_summary(tmp_path: Path) -> None:
    write_manifest(tmp_path, "day/news.jsonl", [good(f"n{i}", text=f"খবর {i}") for i in range(12)] + ["oops"])
    services = [FakeService() for _ in range(3)]
    reports = [runner(tmp_path, services[i], index=i, count=3).run() for i in range(3)]
    done = [set(s.calls) for s in services]
    assert sum(len(d) for d in done) == 12 and len(set().union(*done)) == 12  # each item once
    assert [bool(r.summaries) for r in reports] == [False, False, True]
    summary = json.loads((tmp_path / "out/day/news" / SUMMARY).read_text())
    assert {k: summary[k] for k in ("items", "ok", "failed", "skipped")} == {
        "items": 13,
        "ok": 12,
        "failed": 1,
        "skipped": 0,
    }
    assert summary["failures"][0]["line"] == 13 and summary["failures"][0]["code"] == "invalid_json"
    assert summary["audio_seconds"] == 12.0


def test_a_rerun_does_only_what_is_missing_and_a_summarized_manifest_is_not_read(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "a.jsonl", [good(f"n{i}") for i in range(4)])
    first = FakeService()
    runner(tmp_path, first).run()
    assert len(first.calls) == 4
    (tmp_path / "out/a/n2.json").unlink()  # as if the task died before this result was written
    (tmp_path / "out/a" / SUMMARY).unlink()
    second = FakeService()
    report = runner(tmp_path, second, run="r2").run()
    assert (len(second.calls), report.skipped, report.synthesized) == (1, 3, 1)
    summary = json.loads((tmp_path / "out/a" / SUMMARY).read_text())
    assert (summary["ok"], summary["skipped"]) == (4, 3)

    third = FakeService()
    report = runner(tmp_path, third, run="r3").run()
    assert (third.calls, report.manifests_skipped, report.items) == ([], 1, 0)

    # A changed manifest is read again; only the changed line is redone.
    lines = [good(f"n{i}") for i in range(4)]
    lines[1]["text"] = "নতুন লেখা"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    fourth = FakeService()
    report = runner(tmp_path, fourth, run="r4").run()
    assert (fourth.calls, report.skipped) == (["নতুন লেখা"], 3)


def test_a_deadline_lets_running_items_finish_and_the_next_run_resumes(tmp_path: Path) -> None:
    """On Lambda a run stops before the invocation's deadline (function.http.routes_events)."""

    class SlowService(FakeService):
        def synthesize(self, req: Any) -> Any:
            time.sleep(1.5)
            return super().synthesize(req)

    write_manifest(tmp_path, "a.jsonl", [good(f"n{i}") for i in range(9)])
    first = runner(tmp_path, SlowService(), stop_at=time.monotonic() + 1.0).run()
    # Three workers started three items before the deadline; those finished, nothing else started.
    assert (first.synthesized, first.deferred, first.summaries) == (3, 6, [])
    written = sorted(p.name for p in (tmp_path / "out/a").iterdir())
    assert len([n for n in written if n.endswith(".json")]) == 3 and SUMMARY not in written
    second = runner(tmp_path, FakeService(), run="r2").run()
    assert (second.skipped, second.synthesized, second.deferred, second.summaries) == (3, 6, 0, ["a.jsonl"])
    assert json.loads((tmp_path / "out/a" / SUMMARY).read_text())["ok"] == 9


def test_a_changed_format_replaces_the_old_audio_file(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, "a.jsonl", [good("n1")])
    runner(tmp_path, FakeService()).run()
    path.write_text(json.dumps(good("n1", format="flac")) + "\n")
    runner(tmp_path, FakeService(), run="r2").run()
    assert sorted(p.name for p in (tmp_path / "out/a").iterdir()) == ["_SUMMARY.json", "n1.flac", "n1.json"]


def test_item_failures_are_results_not_task_failures(tmp_path: Path) -> None:
    write_manifest(
        tmp_path,
        "a.jsonl",
        [
            good("ok1"),
            good("gone", voice_id="voice_missing"),
            {"id": "c", "text": "t", "speaker_wav_uri": "../x.wav"},
        ],
    )
    report = runner(tmp_path, FakeService()).run()
    assert (report.synthesized, report.failed) == (1, 2)
    gone = json.loads((tmp_path / "out/a/gone.json").read_text())
    assert gone["status"] == "failed" and gone["error"]["code"] == "voice_not_found"
    bad_uri = json.loads((tmp_path / "out/a/c.json").read_text())
    assert bad_uri["error"]["code"] == "invalid_speaker"
    assert not (tmp_path / "out/a/gone.wav").exists()


def test_hostile_speaker_uris_fail_their_item_and_the_task_goes_on(tmp_path: Path) -> None:
    """Issue 23: a directory or `gs:///x.wav` stopped the whole task on every retry, /dev/zero read
    until memory ran out, a FIFO blocked the task for ever, a NUL gave a traceback."""
    clips = tmp_path / "clips"
    (clips / "folder").mkdir(parents=True)
    os.mkfifo(clips / "fifo.wav")
    (clips / "ok.wav").write_bytes(b"RIFF" + b"\0" * 100)
    (clips / "empty.wav").write_bytes(b"")
    hostile = {
        "dir": (str(clips / "folder"), "reference_not_found"),
        "fifo": (str(clips / "fifo.wav"), "reference_not_found"),
        "zero": ("/dev/zero", "reference_not_found"),
        "empty": (str(clips / "empty.wav"), "invalid_speaker"),
        "no_bucket": ("gs:///x.wav", "invalid_speaker"),
        "bad_bucket": ("s3://A/x.wav", "invalid_speaker"),
        "nul": (str(clips / "ok.wav") + "\x00.wav", "invalid_speaker"),
        "control": ("clips/ok\n.wav", "invalid_speaker"),
    }
    lines = [good("first")]
    lines += [{"id": name, "text": "t", "speaker_wav_uri": uri} for name, (uri, _) in hostile.items()]
    lines += [{"id": "clip", "text": "t", "speaker_wav_uri": str(clips / "ok.wav")}, good("last")]
    write_manifest(tmp_path, "a.jsonl", lines)
    done: list[Any] = []
    task = threading.Thread(target=lambda: done.append(runner(tmp_path, FakeService()).run()), daemon=True)
    task.start()
    task.join(30)
    assert done, "the task hung"
    assert (done[0].synthesized, done[0].failed) == (3, len(hostile))
    for name, (_, code) in hostile.items():
        result = json.loads((tmp_path / f"out/a/{name}.json").read_text())
        assert result["status"] == "failed" and result["error"]["code"] == code, (name, result)
    summary = json.loads((tmp_path / "out/a" / SUMMARY).read_text())
    assert (summary["ok"], summary["failed"]) == (3, len(hostile))


def test_a_long_manifest_takes_bounded_memory_and_a_bounded_summary(tmp_path: Path) -> None:
    """Issue 23: a 100,000-line manifest took 940 MB (every line parsed into an item, every result
    read back at once) and wrote an 18.8 MB summary listing every failure."""
    lines = 3000
    text = "আমার সোনার বাংলা " * 30  # 2.5 KB a line: what an item's parsed form would multiply
    path = write_manifest(
        tmp_path,
        "big.jsonl",
        [{"id": f"n{i}", "text": text, "voice_id": "voice_missing"} for i in range(lines)],
    )
    # Measured in a fresh interpreter: tracemalloc counts every thread's allocations, and threads
    # left by earlier tests in this process (servers, emulators) once added 1.8 MB to the peak.
    measure = (
        "import json, tracemalloc\n"
        "from pathlib import Path\n"
        "from tests.function.test_batch_manifest import FakeService, runner\n"
        "tracemalloc.start()\n"
        f"report = runner(Path({str(tmp_path)!r}), FakeService()).run()\n"
        "print(json.dumps([tracemalloc.get_traced_memory()[1], report.failed]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", measure], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    peak, failed = json.loads(out.stdout.strip().splitlines()[-1])
    assert failed == lines
    # The manifest's own bytes, and a few hundred bytes a line (its result name and input hash).
    assert peak < path.stat().st_size + lines * 1024, peak
    summary = json.loads((tmp_path / "out/big" / SUMMARY).read_text())
    assert (summary["items"], summary["failed"]) == (lines, lines)
    assert summary["failure_codes"] == {"voice_not_found": lines}
    assert [f["line"] for f in summary["failures"]] == list(range(1, MAX_LISTED + 1))
    assert summary["failures_file"] == FAILURES
    every = [json.loads(x) for x in (tmp_path / "out/big" / FAILURES).read_text().splitlines()]
    assert [f["id"] for f in every] == [f"n{i}" for i in range(lines)]
    assert (tmp_path / "out/big" / SUMMARY).stat().st_size < 64 * 1024


def test_a_clip_that_grows_past_the_limit_after_its_stat_is_not_read_whole(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / "c.wav").write_bytes(b"x" * 1000)
    assert store.read_bytes("c.wav", limit=10) == b"x" * 11  # limit + 1: enough to say "too large"
    assert store.read_bytes("c.wav") == b"x" * 1000


def test_an_unreachable_voice_store_is_retryable_and_leaves_no_result(tmp_path: Path) -> None:
    write_manifest(tmp_path, "a.jsonl", [good("n1")])
    service = FakeService()
    service.store_down = True
    with pytest.raises(RetryableError, match="voice store"):
        runner(tmp_path, service).run()
    assert not (tmp_path / "out/a/n1.json").exists()


class FailingWrites(LocalStore):
    """Audio writes fail as a bucket that stays unavailable would (after the client's retries)."""

    def write_bytes(self, key: str, data: bytes) -> None:
        if key.endswith(".wav"):
            raise StorageError(f"cannot write {key}: still failing after retries (503)")
        super().write_bytes(key, data)


def test_a_store_that_stays_down_stops_the_task_as_retryable(tmp_path: Path) -> None:
    write_manifest(tmp_path, "a.jsonl", [good(f"n{i}") for i in range(6)])
    with pytest.raises(RetryableError, match="still failing"):
        runner(tmp_path, FakeService(), outputs=FailingWrites(tmp_path / "out")).run()
    assert not list((tmp_path / "out").rglob("*.json"))  # no result claims audio that is not there
