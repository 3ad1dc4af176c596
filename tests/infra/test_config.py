"""Stack configuration: defaults, the CPU switch, and errors that name the bad key."""

from __future__ import annotations

import pytest

from infra.config import KNOWN_KEYS, ConfigError, DeployConfig, check_api_keys, parse_config, tts_environment
from infra.schedule import batch_environment

GOOD = {
    "domain": "tts.example.com",
    "alertEmail": "oncall@example.com",
    "image": "us-central1-docker.pkg.dev/p/bn-tts/server:0123abc",
}
GCP = {"project": "tts-prod-123", "region": "asia-southeast1"}


def parse(overrides: dict[str, str] | None = None, gcp: dict[str, str] | None = None) -> DeployConfig:
    ours = {**GOOD, **(overrides or {})}
    provider = {**GCP, **(gcp or {})}
    return parse_config(ours.get, provider.get, stack="prod")


def test_defaults_are_a_gpu_deployment() -> None:
    cfg = parse()
    assert cfg.gpu and cfg.gpu_type == "nvidia-l4"
    assert (cfg.cpu, cfg.memory_gib, cfg.min_instances) == (4, 16, 0)
    assert cfg.model_variant == "fp16" and cfg.region == "asia-southeast1"
    assert cfg.batch_schedule is None and cfg.batch_time_zone == "Asia/Dhaka"
    assert cfg.bucket_name == "tts-prod-123-bn-tts-models"
    assert cfg.image_repository == "asia-southeast1-docker.pkg.dev/tts-prod-123/bn-tts"


def test_cpu_switch_changes_the_variant_and_the_gpu_flag() -> None:
    cfg = parse({"gpuType": "none"})
    assert not cfg.gpu and cfg.model_variant == "int8"
    env = tts_environment(cfg)
    assert env["TTS_ENABLE_GPU"] == "false" and env["TTS_MODEL_VARIANT"] == "int8"


def test_model_path_points_at_the_versioned_bundle_directory() -> None:
    env = tts_environment(parse({"modelName": "bn-xtts", "modelVersion": "v7", "modelVariant": "int8"}))
    assert env["TTS_MODEL_PATH"] == "gs://tts-prod-123-bn-tts-models/models/bn-xtts/v7/"
    assert env["TTS_MODEL_VARIANT"] == "int8"


def test_allow_list_accepts_json_or_commas_and_normalises() -> None:
    assert parse({"allowList": '["203.0.113.7/24", "2001:db8::/32"]'}).allow_list == (
        "203.0.113.0/24",
        "2001:db8::/32",
    )
    assert parse({"allowList": "198.51.100.1, 198.51.100.1"}).allow_list == ("198.51.100.1/32",)


@pytest.mark.parametrize(
    ("overrides", "gcp", "key"),
    [
        ({}, {"project": ""}, "gcp:project"),
        ({}, {"project": "Bad_Project"}, "gcp:project"),
        ({}, {"region": "mars"}, "gcp:region"),
        ({"domain": ""}, {}, "bn-xtts:domain"),
        ({"domain": "not a domain"}, {}, "bn-xtts:domain"),
        ({"alertEmail": "nobody"}, {}, "bn-xtts:alertEmail"),
        ({"gpuType": "nvidia-a100"}, {}, "bn-xtts:gpuType"),
        ({"gpuType": "none", "gpuZonalRedundancy": "true"}, {}, "bn-xtts:gpuZonalRedundancy"),
        ({"gpuZonalRedundancy": "yes"}, {}, "bn-xtts:gpuZonalRedundancy"),
        ({"cpu": "2"}, {}, "bn-xtts:cpu"),
        ({"gpuType": "none", "cpu": "1", "memory": "8Gi"}, {}, "bn-xtts:memory"),  # 1 CPU: up to 4Gi
        ({"gpuType": "none", "cpu": "2", "memory": "16Gi"}, {}, "bn-xtts:memory"),  # 2 CPU: up to 8Gi
        ({"gpuType": "none", "cpu": "4", "memory": "1Gi"}, {}, "bn-xtts:memory"),  # 4 CPU: 2Gi..16Gi
        ({"gpuType": "none", "cpu": "6", "memory": "2Gi"}, {}, "bn-xtts:memory"),  # 6 CPU: 4Gi..24Gi
        ({"cpu": "4", "memory": "24Gi"}, {}, "bn-xtts:memory"),  # 4 CPU: at most 16Gi, GPU or not
        ({"cpu": "6", "memory": "32Gi"}, {}, "bn-xtts:memory"),  # 6 CPU: at most 24Gi
        ({"queueSize": "-1"}, {}, "bn-xtts:queueSize"),
        ({"concurrency": "256", "queueSize": "1024"}, {}, "bn-xtts:queueSize"),  # over Cloud Run's 1000
        ({"banDurationSeconds": "700"}, {}, "bn-xtts:banDurationSeconds"),
        ({"banDurationSeconds": "30"}, {}, "bn-xtts:banDurationSeconds"),
        ({"banThreshold": "0"}, {}, "bn-xtts:banThreshold"),
        ({"rateLimitPerMinute": "10001"}, {}, "bn-xtts:rateLimitPerMinute"),  # rate-based ban: <= 10,000
        ({"edgeRequireAuth": "yes"}, {}, "bn-xtts:edgeRequireAuth"),
        ({"wafPreview": "1"}, {}, "bn-xtts:wafPreview"),
        ({"billingAccount": "12345"}, {}, "bn-xtts:billingAccount"),
        ({"billingAccount": "012345-6789AB-CDEF01"}, {}, "bn-xtts:budgetAmount"),
        ({"budgetAmount": "500"}, {}, "bn-xtts:billingAccount"),
        ({"billingAccount": "012345-6789AB-CDEF01", "budgetAmount": "0"}, {}, "bn-xtts:budgetAmount"),
        ({"cpu": "3"}, {}, "bn-xtts:cpu"),
        ({"memory": "8Gi"}, {}, "bn-xtts:memory"),
        ({"memory": "16G"}, {}, "bn-xtts:memory"),
        ({"minInstances": "-1"}, {}, "bn-xtts:minInstances"),
        ({"minInstances": "3", "maxInstances": "2"}, {}, "bn-xtts:minInstances"),
        ({"maxInstances": "two"}, {}, "bn-xtts:maxInstances"),
        ({"concurrency": "0"}, {}, "bn-xtts:concurrency"),
        ({"requestTimeoutSeconds": "7200"}, {}, "bn-xtts:requestTimeoutSeconds"),
        ({"modelVariant": "fp8"}, {}, "bn-xtts:modelVariant"),
        ({"gpuType": "none", "modelVariant": "fp16"}, {}, "bn-xtts:modelVariant"),
        ({"modelVersion": "../v1"}, {}, "bn-xtts:modelVersion"),
        ({"modelName": "a/b"}, {}, "bn-xtts:modelName"),
        ({"image": "server"}, {}, "bn-xtts:image"),
        ({"image": "us-docker.pkg.dev/p/r/server:latest"}, {}, "bn-xtts:image"),
        ({"allowList": "10.0.0.0/33"}, {}, "bn-xtts:allowList"),
        ({"allowList": '{"a": 1}'}, {}, "bn-xtts:allowList"),
        ({"rateLimitPerMinute": "0"}, {}, "bn-xtts:rateLimitPerMinute"),
        ({"batchSchedule": "every day"}, {}, "bn-xtts:batchSchedule"),
        ({"batchTimeZone": "Dhaka"}, {}, "bn-xtts:batchTimeZone"),
        ({"batchTasks": "2", "batchParallelism": "3"}, {}, "bn-xtts:batchParallelism"),
        ({"batchTasks": "0"}, {}, "bn-xtts:batchTasks"),
        ({"batchTasks": "10001"}, {}, "bn-xtts:batchTasks"),
        ({"batchParallelism": "0"}, {}, "bn-xtts:batchParallelism"),
        ({"batchTaskTimeoutSeconds": "3601"}, {}, "bn-xtts:batchTaskTimeoutSeconds"),  # GPU: 1 h
        ({"gpuType": "none", "batchTaskTimeoutSeconds": "604801"}, {}, "bn-xtts:batchTaskTimeoutSeconds"),
        ({"batchTaskTimeoutSeconds": "59"}, {}, "bn-xtts:batchTaskTimeoutSeconds"),
        ({"batchMaxRetries": "11"}, {}, "bn-xtts:batchMaxRetries"),
        ({"batchMaxRetries": "-1"}, {}, "bn-xtts:batchMaxRetries"),
        ({"batchSchedule": "0 24 * * *"}, {}, "bn-xtts:batchSchedule"),
        ({"batchSchedule": "0 3 0 * *"}, {}, "bn-xtts:batchSchedule"),
        ({"batchSchedule": "0 3 * * 8"}, {}, "bn-xtts:batchSchedule"),
        ({"batchSchedule": "0 3 L * *"}, {}, "bn-xtts:batchSchedule"),
        ({"batchSchedule": "*/0 * * * *"}, {}, "bn-xtts:batchSchedule"),
        ({"batchSchedule": "0 5-2 * * *"}, {}, "bn-xtts:batchSchedule"),
        ({"logLevel": "LOUD"}, {}, "bn-xtts:logLevel"),
        ({"maxRequestBytes": str(64 * 1024 * 1024)}, {}, "bn-xtts:maxRequestBytes"),
        ({"name": "X"}, {}, "bn-xtts:name"),
        ({"deletionProtection": "maybe"}, {}, "bn-xtts:deletionProtection"),
        ({"qualityWarningShare": "0"}, {}, "bn-xtts:qualityWarningShare"),  # 0 < share <= 1
        ({"qualityWarningShare": "-0.1"}, {}, "bn-xtts:qualityWarningShare"),
        ({"qualityWarningShare": "1.5"}, {}, "bn-xtts:qualityWarningShare"),
        ({"qualityWarningShare": "20%"}, {}, "bn-xtts:qualityWarningShare"),
        ({"qualityWarningShare": "nan"}, {}, "bn-xtts:qualityWarningShare"),
    ],
)
def test_bad_value_names_the_key(overrides: dict[str, str], gcp: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(overrides, gcp)
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ")


def test_a_gpu_task_runs_at_most_an_hour_a_cpu_task_up_to_seven_days() -> None:
    """Cloud Run's job task timeout: 168 h, 1 h with a GPU (docs: run/docs/configuring/task-timeout)."""
    assert parse({"batchTaskTimeoutSeconds": "3600"}).batch_task_timeout_s == 3600
    with pytest.raises(ConfigError, match=r"^bn-xtts:batchTaskTimeoutSeconds: .*at most 3600 s, got 3601"):
        parse({"gpuType": "nvidia-l4", "batchTaskTimeoutSeconds": "3601"})
    assert parse({"gpuType": "none", "batchTaskTimeoutSeconds": "3601"}).batch_task_timeout_s == 3601
    assert parse({"gpuType": "none", "batchTaskTimeoutSeconds": "604800"}).batch_task_timeout_s == 604800


def test_batch_tasks_parallelism_and_retries_bounds() -> None:
    cfg = parse()
    assert (cfg.batch_tasks, cfg.batch_parallelism, cfg.batch_max_retries) == (1, 1, 3)
    cfg = parse({"batchTasks": "10000", "batchParallelism": "10000", "batchMaxRetries": "10"})
    assert (cfg.batch_tasks, cfg.batch_parallelism, cfg.batch_max_retries) == (10000, 10000, 10)
    assert parse({"batchTasks": "4", "batchParallelism": "4", "batchMaxRetries": "0"}).batch_max_retries == 0


@pytest.mark.parametrize(
    "schedule", ["0 3 * * *", "*/15 * * * *", "30 1 1,15 * *", "0 9-17/2 * JAN-MAR MON-FRI", "0 0 * * 7"]
)
def test_cloud_scheduler_cron_expressions_are_accepted(schedule: str) -> None:
    assert parse({"batchSchedule": schedule}).batch_schedule == schedule


def test_a_bad_job_setting_stops_the_program_before_any_resource() -> None:
    from tests.infra.pulumi_harness import synthesize

    with pytest.raises(ConfigError, match=r"^bn-xtts:batchTaskTimeoutSeconds: "):
        synthesize({"bn-xtts:batchTaskTimeoutSeconds": "3601"})


@pytest.mark.parametrize("gpu_type", ["nvidia-l4", "none"])
def test_the_batch_job_accepts_the_environment_the_stack_sets(gpu_type: str) -> None:
    """The job's env must pass function.batch's own validation, without any API key."""
    from function.config import load_batch_settings

    cfg = parse({"gpuType": gpu_type})
    env = batch_environment(cfg)
    assert "TTS_API_KEYS" not in env
    settings = load_batch_settings(env, cpu_count=cfg.cpu)
    assert settings.input == f"gs://{cfg.bucket_name}/batch/in"
    assert settings.output == f"gs://{cfg.bucket_name}/batch/out"
    assert settings.serving.api_keys == ()
    assert settings.serving.enable_gpu is cfg.gpu
    assert settings.serving.model_variant == cfg.model_variant
    assert settings.serving.model_path == env["TTS_MODEL_PATH"].rstrip("/")
    assert settings.serving.voices_path == f"gs://{cfg.bucket_name}/voices"
    assert settings.serving.max_request_bytes == cfg.max_request_bytes


def test_image_is_optional_for_the_bootstrap_run() -> None:
    ours = {k: v for k, v in GOOD.items() if k != "image"}
    assert parse_config(ours.get, GCP.get, stack="prod").image is None


def test_image_by_digest_is_accepted() -> None:
    digest = "us-central1-docker.pkg.dev/p/bn-tts/server@sha256:" + "a" * 64
    assert parse({"image": digest}).image == digest


@pytest.mark.parametrize(
    "value", ["", " , ", "short", "key-aaaaaaaaaaaaaaaa,key-aaaaaaaaaaaaaaaa", "key with spaces inside!"]
)
def test_bad_api_keys_name_the_key(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_api_keys(value)
    assert err.value.key == "bn-xtts:apiKeys"


def test_api_keys_are_trimmed_and_kept_in_order() -> None:
    assert check_api_keys(" key-bbbbbbbbbbbbbbbb , key-aaaaaaaaaaaaaaaa") == (
        "key-bbbbbbbbbbbbbbbb,key-aaaaaaaaaaaaaaaa"
    )


def test_a_bad_value_fails_the_whole_program_before_any_resource() -> None:
    from tests.infra.pulumi_harness import synthesize

    with pytest.raises(ConfigError, match=r"^bn-xtts:minInstances: "):
        synthesize({"bn-xtts:minInstances": "5", "bn-xtts:maxInstances": "2"})


@pytest.mark.parametrize("gpu_type", ["nvidia-l4", "none"])
def test_the_service_accepts_the_environment_the_stack_sets(gpu_type: str) -> None:
    """The deployed env must pass the serving side's own validation, value for value."""
    from function.config import load_settings

    cfg = parse({"gpuType": gpu_type, "concurrency": "3"})
    env = {**tts_environment(cfg), "TTS_API_KEYS": check_api_keys("key-aaaaaaaaaaaaaaaa"), "PORT": "8080"}
    settings = load_settings(env, cpu_count=cfg.cpu)
    assert settings.enable_gpu is cfg.gpu
    assert settings.model_variant == cfg.model_variant
    assert settings.max_concurrent_requests == cfg.concurrency == 3
    # One synthesis is one decode row: the engine batch follows the slots (not its GPU default 16).
    assert settings.max_batch == 3 and settings.queue_size == cfg.queue_size == 3
    assert settings.workers == cfg.workers
    # Behind Google's external Application Load Balancer the client is the 2nd X-Forwarded-For
    # entry from the right (https://cloud.google.com/load-balancing/docs/https#x-forwarded-for_header).
    assert settings.forwarded_for_hops == 2
    assert settings.model_path == env["TTS_MODEL_PATH"].rstrip("/")
    assert settings.voices_path == f"gs://{cfg.bucket_name}/voices"
    assert settings.max_request_bytes == cfg.max_request_bytes
    assert settings.max_text_chars == cfg.max_text_chars
    assert settings.api_keys == ("key-aaaaaaaaaaaaaaaa",)
    assert settings.gcp_project == cfg.project


def test_a_misspelt_key_is_an_error_with_a_suggestion() -> None:
    # Reported first, even when the typo leaves a required key unset.
    ours = {k: v for k, v in GOOD.items() if k != "domain"}
    with pytest.raises(ConfigError) as err:
        parse_config(ours.get, GCP.get, stack="prod", provided=["bn-xtts:minInstance", "bn-xtts:domian"])
    assert err.value.key == "bn-xtts:minInstance"
    assert "did you mean minInstances?" in str(err.value)


def test_the_program_rejects_unknown_keys_too() -> None:
    from tests.infra.pulumi_harness import synthesize

    with pytest.raises(ConfigError, match=r"^bn-xtts:gpuTyp: unknown key; did you mean gpuType\?"):
        synthesize({"bn-xtts:gpuTyp": "none"})


def test_the_sample_stack_file_is_valid_and_documents_every_key() -> None:
    """Pulumi passes every config value to the program as a string (structured ones as JSON). Keys
    best left out of a stack file are documented as comment lines `# bn-xtts:KEY: VALUE`; their
    sample values must be valid too."""
    import json
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    text = (root / "Pulumi.example.yaml").read_text()
    sample = yaml.safe_load(text)["config"]
    commented = {
        m.group(1): yaml.safe_load(m.group(2)) for m in re.finditer(r"^\s*# (bn-xtts:\w+): (\S+)", text, re.M)
    }
    assert set(commented) == {
        "bn-xtts:image",
        "bn-xtts:modelVersion",
        "bn-xtts:billingAccount",
        "bn-xtts:budgetAmount",
        "bn-xtts:qualityWarningShare",
    }
    assert not set(commented) & set(sample)

    def as_string(value: object) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return value if isinstance(value, str) else json.dumps(value)

    def split(values: dict[str, object]) -> tuple[dict[str, str], dict[str, str]]:
        ours = {k.split(":", 1)[1]: as_string(v) for k, v in values.items() if k.startswith("bn-xtts:")}
        provider = {k.split(":", 1)[1]: as_string(v) for k, v in values.items() if k.startswith("gcp:")}
        return ours, provider

    ours, provider = split(sample)
    cfg = parse_config(ours.get, provider.get, stack="prod", provided=sample)
    assert cfg.gpu and cfg.batch_schedule == "0 3 * * *" and cfg.allow_list == ()
    assert cfg.image is None and cfg.billing_account is None and not cfg.model_version_set
    everything, _ = split({**sample, **commented})
    full = parse_config(everything.get, provider.get, stack="prod", provided={**sample, **commented})
    assert full.billing_account == "012345-6789AB-CDEF01" and full.budget_amount == 1000
    assert full.image is not None and full.image.endswith("@sha256:" + "0123456789abcdef" * 4)
    assert cfg.quality_warning_share is None and full.quality_warning_share == 0.2

    seen: set[str] = set()
    parse_config(lambda k: seen.add(k) or everything.get(k), provider.get, stack="prod")
    assert seen - {"apiKeys"} == set(everything)  # every key the program reads is in the sample
    assert seen | {"apiKeys"} == set(KNOWN_KEYS)  # and the typo check knows exactly those


def test_every_key_the_deploy_guide_sets_exists() -> None:
    import re
    from pathlib import Path

    deploy = (Path(__file__).resolve().parents[2] / "docs" / "deploy-gcp.md").read_text()
    keys = re.findall(r"pulumi config set (?:--secret |--path )?'?([A-Za-z:]+)", deploy)
    assert len(keys) >= 10
    unknown = [k for k in keys if not k.startswith("gcp:") and k.split("[")[0] not in KNOWN_KEYS]
    assert unknown == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, 1 * (4 + 4 + 4)),  # GPU: one worker, 4 slots, 4 queued, 4 for /health and friends
        ({"concurrency": "2", "queueSize": "0"}, 2 + 0 + 4),
        ({"gpuType": "none"}, 1 * (2 + 2 + 4)),  # 4 CPU: one worker
        ({"gpuType": "none", "cpu": "8", "memory": "16Gi"}, 2 * (2 + 2 + 4)),  # 8 CPU: two workers
    ],
)
def test_container_concurrency_is_slots_plus_queue_plus_headroom(
    overrides: dict[str, str], expected: int
) -> None:
    cfg = parse(overrides)
    assert cfg.container_concurrency == expected
    env = tts_environment(cfg)
    assert env["TTS_MAX_BATCH"] == env["TTS_MAX_CONCURRENT_REQUESTS"] == str(cfg.concurrency)
    assert env["TTS_QUEUE_SIZE"] == str(cfg.queue_size) and env["TTS_WORKERS"] == str(cfg.workers)


@pytest.mark.parametrize(
    "overrides", [{}, {"gpuType": "none", "cpu": "8", "memory": "16Gi", "queueSize": "1"}]
)
def test_cloud_run_concurrency_equals_the_threads_gunicorn_starts(
    overrides: dict[str, str], tmp_path: object
) -> None:
    """function/gunicorn.conf.py, read with the stack's environment: its workers x threads is
    exactly what Cloud Run may send an instance at once, so every request finds a thread."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cfg = parse(overrides)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TTS_")},
        **tts_environment(cfg),
        "TTS_API_KEYS": "key-aaaaaaaaaaaaaaaa",
        "PORT": "8080",
    }
    code = (
        "import json, runpy; ns = runpy.run_path('function/gunicorn.conf.py'); "
        "print(json.dumps([ns['workers'], ns['threads']]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    workers, threads = json.loads(out.stdout.strip().splitlines()[-1])
    assert workers == cfg.workers
    assert workers * threads == cfg.container_concurrency


def test_memory_follows_cloud_runs_cpu_table() -> None:
    """https://cloud.google.com/run/docs/configuring/services/cpu: 1 CPU up to 4Gi, 2 up to 8Gi,
    4: 2-16Gi, 6: 4-24Gi, 8: 4-32Gi."""
    for cpu, (low, high) in {1: (1, 4), 2: (1, 8), 4: (2, 16), 6: (4, 24), 8: (4, 32)}.items():
        for memory in (low, high):
            cfg = parse({"gpuType": "none", "cpu": str(cpu), "memory": f"{memory}Gi"})
            assert (cfg.cpu, cfg.memory_gib) == (cpu, memory)
    assert parse({"cpu": "8", "memory": "32Gi"}).memory_gib == 32  # the largest GPU shape
    with pytest.raises(ConfigError, match=r"^bn-xtts:memory: Cloud Run gives 2 CPU 1Gi\.\.8Gi"):
        parse({"gpuType": "none", "cpu": "2", "memory": "9Gi"})


def test_budget_needs_both_keys_and_normalises_the_account() -> None:
    cfg = parse({"billingAccount": "012345-6789ab-cdef01", "budgetAmount": "250"})
    assert (cfg.billing_account, cfg.budget_amount) == ("012345-6789AB-CDEF01", 250)
    assert parse().billing_account is None and parse().budget_amount is None


def test_model_version_set_only_when_the_stack_sets_it() -> None:
    assert parse().model_version_set is False and parse().model_version == "v1"
    assert parse({"modelVersion": "v3"}).model_version_set is True


def test_the_quality_alert_share_is_optional_and_a_fraction() -> None:
    """Left out: no quality alert (infra/monitoring/: an alert created with its log-based metrics
    in one run fails); set: a share of checked syntheses, 0 < share <= 1."""
    assert parse().quality_warning_share is None
    assert parse({"qualityWarningShare": "0.2"}).quality_warning_share == 0.2
    assert parse({"qualityWarningShare": " 1 "}).quality_warning_share == 1.0
    with pytest.raises(ConfigError, match=r"^bn-xtts:qualityWarningShare: expected a share 0 < x <= 1 .*'0'"):
        parse({"qualityWarningShare": "0"})
