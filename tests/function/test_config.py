"""Configuration: defaults, validation, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from function.config import ConfigError, load_event_batch_settings, load_settings
from function.quality.policy import RETRYABLE_WARNINGS

BASE = {"TTS_MODEL_PATH": "gs://models-bucket/bn-xtts/v1/"}


def test_defaults_on_cpu() -> None:
    s = load_settings(BASE, cpu_count=8)
    assert s.port == 8080
    assert s.model_path == "gs://models-bucket/bn-xtts/v1"
    assert s.model_variant == "int8" and not s.enable_gpu
    assert s.cache_dir == Path("/tmp/tts-cache") and s.voices_path == "/tmp/tts-cache/voices"
    assert s.log_level == "INFO" and s.api_keys == ()
    # One synthesis per decode-batch row, and one more batch may wait.
    assert s.max_batch == 4 and s.max_concurrent_requests == 4 and s.queue_size == 4
    assert s.workers == 2 and s.intra_op_threads == 4
    assert s.max_text_chars == 1000 and s.max_request_bytes == 16 * 2**20


def test_gpu_defaults_to_fp16_and_one_worker() -> None:
    s = load_settings({**BASE, "TTS_ENABLE_GPU": "true"}, cpu_count=8)
    assert s.model_variant == "fp16" and s.workers == 1 and s.enable_gpu
    assert s.max_batch == 16 and s.max_concurrent_requests == 16 and s.queue_size == 16
    s = load_settings({**BASE, "TTS_MAX_BATCH": "8", "TTS_QUEUE_SIZE": "2"}, cpu_count=8)
    assert (s.max_batch, s.max_concurrent_requests, s.queue_size) == (8, 8, 2)


def test_values_are_parsed() -> None:
    s = load_settings(
        {
            **BASE,
            "PORT": "9000",
            "TTS_MODEL_VARIANT": "FP32",
            "TTS_LOG_LEVEL": "debug",
            "TTS_API_KEYS": "k" * 16 + ", " + "z" * 20,
            "TTS_VOICES_PATH": "gs://voices/shared/",
            "TTS_MAX_CONCURRENT_REQUESTS": "3",
        }
    )
    assert (s.port, s.model_variant, s.log_level) == (9000, "fp32", "DEBUG")
    assert s.api_keys == ("k" * 16, "z" * 20)
    assert s.voices_path == "gs://voices/shared" and s.max_concurrent_requests == 3


def test_quality_policy_defaults_and_values() -> None:
    default = load_settings(BASE).quality
    assert default.enabled and default.retries == 1 and default.target_lufs is None
    assert default.retry_on == RETRYABLE_WARNINGS and default.speech_rate_range("bn") == (5.0, 25.0)
    q = load_settings(
        {
            **BASE,
            "TTS_QUALITY_CHECKS": "off",
            "TTS_QUALITY_RETRIES": "2",
            "TTS_QUALITY_RETRY_ON": "runaway, silent",
            "TTS_QUALITY_SPEECH_RATE": "bn=6-20,default=1-40",
            "TTS_QUALITY_MIN_SPEAKER_SIMILARITY": "0.55",
            "TTS_QUALITY_MAX_SILENCE_SECONDS": "1.5",
            "TTS_QUALITY_MAX_CLIPPING_SHARE": "0.01",
            "TTS_QUALITY_RUNAWAY_FACTOR": "0",
            "TTS_TARGET_LUFS": "-16",
        }
    ).quality
    assert not q.enabled and q.retries == 2 and q.retry_on == {"runaway", "silent"}
    assert q.speech_rate_range("bn") == (6.0, 20.0) and q.speech_rate_range("en") == (6.0, 25.0)
    assert q.speech_rate_range("ja") == (1.0, 40.0)
    assert (q.min_speaker_similarity, q.max_silence_s, q.max_clipping_share) == (0.55, 1.5, 0.01)
    assert q.runaway_factor == 0 and q.target_lufs == -16.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "70000"),
        ("TTS_MODEL_VARIANT", "int4"),
        ("TTS_ENABLE_GPU", "maybe"),
        ("TTS_LOG_LEVEL", "LOUD"),
        ("TTS_MAX_CONCURRENT_REQUESTS", "0"),
        ("TTS_MAX_TEXT_CHARS", "-5"),
        ("TTS_MAX_REQUEST_BYTES", "1e9"),
        ("TTS_VOICES_PATH", "s3://Bad_Bucket/voices"),
        ("TTS_VOICES_PATH", "ftp://host/voices"),
        ("TTS_MODEL_PATH", "s3:///nobucket"),
        ("AWS_LWA_PASS_THROUGH_PATH", "events"),
        ("TTS_BATCH_DEADLINE_MARGIN_SECONDS", "900"),
        ("TTS_MODEL_PATH", "gs:///nobucket"),
        ("TTS_API_KEYS", "short"),
        ("TTS_API_KEYS", "a key with spaces inside it"),
        ("TTS_MAX_BATCH", "0"),
        ("TTS_PREFIX_CACHE_VOICES", "-1"),
        ("TTS_PREFIX_CACHE_VOICES", "all"),
        ("TTS_QUEUE_TIMEOUT_SECONDS", "soon"),
        ("TTS_REQUEST_HEADER_TIMEOUT_SECONDS", "0"),
        ("TTS_REQUEST_BODY_TIMEOUT_SECONDS", "forever"),
        ("TTS_REQUEST_BODY_MIN_BYTES_PER_SECOND", "-1"),
        ("TTS_REQUEST_BUFFER_BYTES", "64MiB"),
        ("TTS_QUALITY_CHECKS", "sometimes"),
        ("TTS_QUALITY_RETRIES", "9"),
        ("TTS_QUALITY_RETRY_ON", "runaway,typo"),
        ("TTS_QUALITY_SPEECH_RATE", "bn=25-5"),
        ("TTS_QUALITY_SPEECH_RATE", "bn:5-25"),
        ("TTS_QUALITY_MIN_SPEAKER_SIMILARITY", "1.5"),
        ("TTS_QUALITY_MAX_SILENCE_SECONDS", "0"),
        ("TTS_QUALITY_MAX_CLIPPING_SHARE", "5%"),
        ("TTS_QUALITY_RUNAWAY_FACTOR", "-1"),
        ("TTS_TARGET_LUFS", "+3"),
        ("TTS_LEXICON_PATH", "ftp://host/lexicon.tsv"),
        ("TTS_LEXICON_PATH", "gs://bucket-without-a-file"),
        ("TTS_LEXICON_PATH", "gs://bucket/a-folder/"),
        ("TTS_LEXICON_PATH", "s3://Bad_Bucket/lexicon.tsv"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({**BASE, name: value})


def test_the_prefix_cache_keeps_16_voices_unless_told() -> None:
    assert load_settings(BASE).prefix_cache_voices == 16
    assert load_settings({**BASE, "TTS_PREFIX_CACHE_VOICES": "0"}).prefix_cache_voices == 0


def test_the_user_lexicon_is_a_file_in_a_bucket_or_on_disk() -> None:
    assert load_settings(BASE).lexicon_path is None
    s = load_settings({**BASE, "TTS_LEXICON_PATH": "gs://newsroom/tts/lexicon.tsv"})
    assert s.lexicon_path == "gs://newsroom/tts/lexicon.tsv"
    s = load_settings({**BASE, "TTS_LEXICON_PATH": "/etc/tts/lexicon.tsv"})
    assert s.lexicon_path == "/etc/tts/lexicon.tsv"


def test_s3_locations_are_accepted() -> None:
    s = load_settings(
        {"TTS_MODEL_PATH": "s3://models.example-1/bn-xtts/v1/", "TTS_VOICES_PATH": "s3://v-1/x/"}
    )
    assert (s.model_path, s.voices_path) == ("s3://models.example-1/bn-xtts/v1", "s3://v-1/x")


def test_lambda_is_detected_from_its_own_variables() -> None:
    off = load_settings(BASE, cpu_count=8)
    assert off.lambda_function is None and off.workers == 2
    on = load_settings(
        {**BASE, "AWS_LAMBDA_FUNCTION_NAME": "bn-tts", "AWS_LWA_PASS_THROUGH_PATH": "/hooks/run"}, cpu_count=6
    )
    # One request at a time per environment: one process with every core.
    assert (on.lambda_function, on.workers, on.intra_op_threads) == ("bn-tts", 1, 6)
    assert on.events_path == "/hooks/run" and on.batch_deadline_margin_s == 120.0


def test_a_scheduled_events_fields_stand_for_the_batch_variables() -> None:
    s = load_event_batch_settings(
        {"input": "s3://bkt/in/daily", "task_index": "1", "task_count": "2", "run_id": "sched-7"},
        {"TTS_MODEL_PATH": "s3://bkt/models", "TTS_BATCH_OUTPUT": "s3://bkt/out"},
    )
    assert (s.input, s.output, s.task_index, s.task_count, s.run_id) == (
        "s3://bkt/in/daily",
        "s3://bkt/out",
        1,
        2,
        "sched-7",
    )
    with pytest.raises(ConfigError, match="CLOUD_RUN_TASK_INDEX"):
        load_event_batch_settings({"task_index": "2", "task_count": "2"}, {"TTS_MODEL_PATH": "s3://bkt/m"})


def test_request_read_limits() -> None:
    s = load_settings(BASE)
    assert (s.request_header_timeout_s, s.request_body_timeout_s) == (10.0, 20.0)
    assert s.request_body_min_bytes_per_s == 1024
    assert s.request_buffer_bytes == 4 * s.max_request_bytes  # four bodies of the largest size
    s = load_settings(
        {**BASE, "TTS_MAX_REQUEST_BYTES": "1000000", "TTS_REQUEST_BODY_MIN_BYTES_PER_SECOND": "0"}
    )
    assert s.request_buffer_bytes == 4_000_000 and s.request_body_min_bytes_per_s == 0
    # A budget smaller than one allowed body could never receive it.
    with pytest.raises(ConfigError, match=r"TTS_REQUEST_BUFFER_BYTES=999999 .*TTS_MAX_REQUEST_BYTES"):
        load_settings({**BASE, "TTS_MAX_REQUEST_BYTES": "1000000", "TTS_REQUEST_BUFFER_BYTES": "999999"})


def test_a_streams_first_chunk_comes_from_the_env_or_the_config_file(tmp_path: Path) -> None:
    assert load_settings({**BASE, "TTS_STREAM_CHUNK_TOKENS": "12"}).synthesis_defaults == {
        "stream_chunk_tokens": 12
    }
    with pytest.raises(ConfigError, match="TTS_STREAM_CHUNK_TOKENS"):
        load_settings({**BASE, "TTS_STREAM_CHUNK_TOKENS": "0"})
    runtime = tmp_path / "runtime.json"
    runtime.write_text('{"defaults": {"stream_chunk_tokens": 20}}')
    env = {**BASE, "TTS_STREAM_CHUNK_TOKENS": "12", "TTS_CONFIG_PATH": str(runtime)}
    assert load_settings(env).synthesis_defaults == {"stream_chunk_tokens": 20}  # the file wins


def test_model_path_is_required() -> None:
    with pytest.raises(ConfigError, match="TTS_MODEL_PATH is required"):
        load_settings({})


def test_config_path_overrides_runtime(tmp_path: Path) -> None:
    good = tmp_path / "runtime.json"
    good.write_text('{"runtime": {"defaults": {"temperature": 0.6, "top_k": 30}, "languages": ["bn"]}}')
    s = load_settings({**BASE, "TTS_CONFIG_PATH": str(good)})
    assert s.synthesis_defaults == {"stream_chunk_tokens": 8, "temperature": 0.6, "top_k": 30}
    assert s.languages == ("bn",)
    for bad in (
        '{"defaults": {"temperature": 9}}',
        '{"defaults": {"tempo": 1}}',
        '{"defaults": {"seed": 1}}',
        '{"defaults": 3}',
        '{"languages": "bn"}',
        '{"char_limits": {}}',
    ):
        good.write_text(bad)
        with pytest.raises(ConfigError, match="TTS_CONFIG_PATH"):
            load_settings({**BASE, "TTS_CONFIG_PATH": str(good)})
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    with pytest.raises(ConfigError, match=r"TTS_CONFIG_PATH.*not valid JSON"):
        load_settings({**BASE, "TTS_CONFIG_PATH": str(bad)})
    with pytest.raises(ConfigError, match=r"TTS_CONFIG_PATH.*cannot be read"):
        load_settings({**BASE, "TTS_CONFIG_PATH": str(tmp_path / "missing.json")})
