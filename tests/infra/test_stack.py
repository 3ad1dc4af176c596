"""The whole Pulumi program, built against mocks: the properties production relies on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime import rpc

from tests.infra.pulumi_harness import PROJECT, Synth, synthesize

SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
BUCKET = "gcp:storage/bucket:Bucket"
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
SCHEDULER = "gcp:cloudscheduler/job:Job"
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
ACCOUNT = "gcp:serviceaccount/account:Account"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
READ = "roles/storage.objectViewer"
READ_WRITE = "roles/storage.objectUser"


@pytest.fixture(scope="module")
def gpu() -> Synth:
    return synthesize()


@pytest.fixture(scope="module")
def cpu() -> Synth:
    return synthesize({"bn-xtts:gpuType": "none", "bn-xtts:batchSchedule": None})


def container(synth: Synth) -> dict[str, Any]:
    containers = synth.one(SERVICE)["template"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env(synth: Synth) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueSource")) for e in container(synth)["envs"]}


def test_gpu_service_selects_one_l4_with_the_minimum_cpu_and_memory(gpu: Synth) -> None:
    template = gpu.one(SERVICE)["template"]
    assert template["nodeSelector"] == {"accelerator": "nvidia-l4"}
    limits = container(gpu)["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    assert int(limits["cpu"]) >= 4
    assert limits["memory"].endswith("Gi") and int(limits["memory"][:-2]) >= 16
    resources = container(gpu)["resources"]
    assert resources["cpuIdle"] is False and resources["startupCpuBoost"] is True
    assert template["gpuZonalRedundancyDisabled"] is True
    assert template["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"


def test_zonal_redundancy_is_a_config_choice() -> None:
    template = synthesize({"bn-xtts:gpuZonalRedundancy": "true"}).one(SERVICE)["template"]
    assert template["gpuZonalRedundancyDisabled"] is False


def test_request_concurrency_equals_the_engine_limit() -> None:
    synth = synthesize({"bn-xtts:concurrency": "7"})
    assert synth.one(SERVICE)["template"]["maxInstanceRequestConcurrency"] == 7
    assert env(synth)["TTS_MAX_CONCURRENT_REQUESTS"] == "7"


def test_scaling_and_timeout_come_from_config() -> None:
    synth = synthesize(
        {"bn-xtts:minInstances": "1", "bn-xtts:maxInstances": "3", "bn-xtts:requestTimeoutSeconds": "900"}
    )
    template = synth.one(SERVICE)["template"]
    assert template["scaling"] == {"minInstanceCount": 1, "maxInstanceCount": 3}
    assert template["timeout"] == "900s"


def test_probes_hit_health_with_a_startup_window_for_the_model_download(gpu: Synth) -> None:
    c = container(gpu)
    startup, liveness = c["startupProbe"], c["livenessProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": 8080}
    assert liveness["httpGet"] == {"path": "/health", "port": 8080}
    window = startup["initialDelaySeconds"] + startup["periodSeconds"] * startup["failureThreshold"]
    assert 180 <= window <= 240 + 240  # Cloud Run caps period x failures at 240 s
    assert startup["periodSeconds"] * startup["failureThreshold"] <= 240
    assert c["ports"] == {"name": "http1", "containerPort": 8080}


def test_ingress_is_load_balancer_only(gpu: Synth) -> None:
    svc = gpu.one(SERVICE)
    assert svc["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert not gpu.of_type("gcp:cloudrunv2/serviceIamMember:ServiceIamMember")


def test_service_environment_follows_the_serving_contract(gpu: Synth) -> None:
    e = env(gpu)
    bucket = f"{PROJECT}-bn-tts-models"
    assert e["TTS_MODEL_PATH"] == f"gs://{bucket}/models/bn-xtts/v1/"
    assert e["TTS_VOICES_PATH"] == f"gs://{bucket}/voices/"
    assert e["TTS_MODEL_VARIANT"] == "fp16"
    assert e["TTS_ENABLE_GPU"] == "true"
    for key in ("TTS_CACHE_DIR", "TTS_LOG_LEVEL", "TTS_MAX_TEXT_CHARS", "TTS_MAX_REQUEST_BYTES"):
        assert e[key]
    ref = e["TTS_API_KEYS"]["secretKeyRef"]
    assert ref == {"secret": "bn-tts-api-keys", "version": "1"}
    assert container(gpu)["image"].endswith(":0123abc")


def test_cpu_variant_is_one_switch_away(cpu: Synth) -> None:
    template = cpu.one(SERVICE)["template"]
    assert "nodeSelector" not in template and "gpuZonalRedundancyDisabled" not in template
    assert "nvidia.com/gpu" not in container(cpu)["resources"]["limits"]
    e = env(cpu)
    assert e["TTS_ENABLE_GPU"] == "false" and e["TTS_MODEL_VARIANT"] == "int8"
    assert "nodeSelector" not in cpu.one(JOB)["template"]["template"]


def test_bucket_is_private_versioned_and_expires_old_data(gpu: Synth) -> None:
    bucket = gpu.one(BUCKET)
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["versioning"] == {"enabled": True}
    conditions = [r["condition"] for r in bucket["lifecycleRules"]]
    assert any(c.get("numNewerVersions") and "models/" in c["matchesPrefixes"] for c in conditions)
    # Batch work ages out; a manifest goes a day before its results (kept after them, it would be
    # synthesized again by the next run). Bundles and voices never age out.
    ages = {tuple(c["matchesPrefixes"]): c["age"] for c in conditions if c.get("age")}
    assert ages == {("batch/in/",): 30, ("batch/out/",): 31}
    bindings = gpu.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert all(not b.inputs["member"].startswith(("allUsers", "allAuthenticatedUsers")) for b in bindings)


def bucket_bindings(synth: Synth, account: str) -> dict[str, str]:
    """role -> condition expression of the bucket bindings naming `account` (one per role)."""
    member = f"serviceAccount:{account}@{PROJECT}.iam.gserviceaccount.com"
    found = [b.inputs for b in synth.of_type(BUCKET_IAM) if b.inputs["member"] == member]
    roles = [b["role"] for b in found]
    assert len(roles) == len(set(roles)), roles
    return {b["role"]: b["condition"]["expression"] for b in found}


def prefixes_expression(*prefixes: str) -> str:
    """The IAM condition for objects under `prefixes`, and listings limited to them."""
    bucket = f"{PROJECT}-bn-tts-models"
    objects = [f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{p}")' for p in prefixes]
    listings = [
        f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{p}")' for p in prefixes
    ]
    return " || ".join(objects + listings)


def test_service_account_reads_models_and_writes_only_voices(gpu: Synth) -> None:
    bindings = bucket_bindings(gpu, "bn-tts-run")
    assert bindings == {READ: prefixes_expression("models/"), READ_WRITE: prefixes_expression("voices/")}
    assert not any("batch/" in e for e in bindings.values())  # batch work is the job's alone


def test_batch_account_reads_models_voices_and_manifests_and_writes_only_results(gpu: Synth) -> None:
    bindings = bucket_bindings(gpu, "bn-tts-batch")
    assert bindings == {
        READ: prefixes_expression("models/", "voices/", "batch/in/"),
        READ_WRITE: prefixes_expression("batch/out/"),
    }
    assert bindings[READ_WRITE] == (
        f'resource.name.startsWith("projects/_/buckets/{PROJECT}-bn-tts-models/objects/batch/out/") || '
        'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("batch/out/")'
    )
    # No other account and no other role touches the bucket's objects.
    members = {b.inputs["member"] for b in gpu.of_type(BUCKET_IAM)}
    assert members == {
        f"serviceAccount:bn-tts-{a}@{PROJECT}.iam.gserviceaccount.com" for a in ("run", "batch")
    }


def test_batch_account_has_no_access_to_the_api_keys(gpu: Synth) -> None:
    batch = f"bn-tts-batch@{PROJECT}.iam.gserviceaccount.com"
    account = next(a.inputs for a in gpu.of_type(ACCOUNT) if a.inputs["accountId"] == "bn-tts-batch")
    assert "batch job" in account["displayName"]
    secret_members = [
        r.inputs.get("member", "") for r in gpu.resources if r.typ.startswith("gcp:secretmanager/secretIam")
    ]
    assert secret_members == [f"serviceAccount:bn-tts-run@{PROJECT}.iam.gserviceaccount.com"]
    assert not [r for r in gpu.resources if batch in json.dumps(r.inputs) and "secretmanager" in r.typ]


def test_no_project_wide_role_is_granted(gpu: Synth) -> None:
    assert not [t for t in gpu.types() if t.startswith("gcp:projects/iam")]
    assert not [t for t in gpu.types() if t.startswith("gcp:organizations/iam")]
    access = gpu.one("gcp:secretmanager/secretIamMember:SecretIamMember")
    assert access["role"] == "roles/secretmanager.secretAccessor"
    assert access["member"] == f"serviceAccount:bn-tts-run@{PROJECT}.iam.gserviceaccount.com"


def test_api_keys_are_stored_in_secret_manager_not_in_plain_env(gpu: Synth) -> None:
    assert "TTS_API_KEYS" not in {e["name"] for e in container(gpu)["envs"] if "value" in e}
    data = gpu.one("gcp:secretmanager/secretVersion:SecretVersion")["secretData"]
    # Marked secret, so Pulumi encrypts it in the state and masks it in output.
    assert data[rpc._special_sig_key] == rpc._special_secret_sig
    assert data["value"] == "key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb"


def test_cloud_armor_throttles_each_ip_with_429(gpu: Synth) -> None:
    rules = gpu.one(ARMOR)["rules"]
    throttles = [r for r in rules if r["action"] == "throttle"]
    assert throttles
    options = throttles[0]["rateLimitOptions"]
    assert options["exceedAction"] == "deny(429)" and options["enforceOnKey"] == "IP"
    assert options["rateLimitThreshold"] == {"count": 30, "intervalSec": 60}
    default = max(rules, key=lambda r: r["priority"])
    assert default["action"] == "allow"


def test_allow_list_limits_sources_and_denies_the_rest() -> None:
    ranges = [f"198.51.100.{i}/32" for i in range(12)]
    rules = synthesize({"bn-xtts:allowList": json.dumps(ranges)}).one(ARMOR)["rules"]
    by_source = [r for r in rules if r["action"] == "throttle" and "config" in r["match"]]
    throttled = [ip for r in by_source for ip in r["match"]["config"]["srcIpRanges"]]
    assert sorted(throttled) == sorted(ranges)  # split across rules of at most 10 ranges
    assert all(len(r["match"]["config"]["srcIpRanges"]) <= 10 for r in by_source)
    assert max(rules, key=lambda r: r["priority"])["action"] == "deny(403)"
    # The uptime checks (Google's changing addresses) still reach /health, rate-limited.
    health = [r for r in rules if "expr" in r["match"]]
    assert len(health) == 1 and health[0]["match"]["expr"]["expression"] == "request.path == '/health'"
    assert health[0]["action"] == "throttle" and health[0]["rateLimitOptions"]["exceedAction"] == "deny(429)"


def test_edge_is_an_external_managed_https_load_balancer(gpu: Synth) -> None:
    neg = gpu.one("gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup")
    assert neg["networkEndpointType"] == "SERVERLESS" and neg["cloudRun"] == {"service": "bn-tts"}
    backend = gpu.one("gcp:compute/backendService:BackendService")
    assert backend["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert backend["securityPolicy"] == "edge-armor-id"
    tls = gpu.one("gcp:compute/sSLPolicy:SSLPolicy")
    assert tls["minTlsVersion"] == "TLS_1_2" and tls["profile"] == "MODERN"
    proxy = gpu.one("gcp:compute/targetHttpsProxy:TargetHttpsProxy")
    assert proxy["sslPolicy"] == "edge-tls-id" and proxy["sslCertificates"] == ["edge-cert-id"]
    cert = gpu.one("gcp:compute/managedSslCertificate:ManagedSslCertificate")
    assert cert["managed"] == {"domains": ["tts.example.com"]}
    rules = {
        r.inputs["portRange"]: r.inputs
        for r in gpu.of_type("gcp:compute/globalForwardingRule:GlobalForwardingRule")
    }
    assert set(rules) == {"443", "80"}
    assert all(r["loadBalancingScheme"] == "EXTERNAL_MANAGED" for r in rules.values())
    maps = [m.inputs for m in gpu.of_type("gcp:compute/uRLMap:URLMap")]
    redirect = [m for m in maps if "defaultUrlRedirect" in m]
    assert redirect and redirect[0]["defaultUrlRedirect"]["httpsRedirect"] is True


def test_alert_policies_cover_each_signal(gpu: Synth) -> None:
    alerts = {a.inputs["userLabels"]["signal"]: a.inputs for a in gpu.of_type(ALERT)}
    assert set(alerts) >= {"uptime", "5xx", "latency", "max_instances", "cold_start", "batch_failed"}
    channel = "monitoring-email-id"
    assert all(a["notificationChannels"] == [channel] for a in alerts.values())
    five_xx = alerts["5xx"]["conditions"][0]["conditionThreshold"]
    assert 'response_code_class="5xx"' in five_xx["filter"] and "denominatorFilter" in five_xx
    latency = alerts["latency"]["conditions"][0]["conditionThreshold"]
    assert latency["aggregations"][0]["crossSeriesReducer"] == "REDUCE_PERCENTILE_95"
    at_max = alerts["max_instances"]["conditions"][0]["conditionThreshold"]
    assert "container/instance_count" in at_max["filter"] and at_max["thresholdValue"] == 1.5
    cold = alerts["cold_start"]["conditions"][0]["conditionThreshold"]
    assert "logging.googleapis.com/user/bn-tts_cold_start_failures" in cold["filter"]


def test_batch_alerts_watch_failed_executions_and_failed_task_attempts(gpu: Synth) -> None:
    alerts = {a.inputs["userLabels"]["signal"]: a.inputs for a in gpu.of_type(ALERT)}
    job = 'resource.type="cloud_run_job" AND resource.label.job_name="bn-tts-batch"'
    failed = alerts["batch_failed"]
    condition = failed["conditions"][0]["conditionThreshold"]
    assert condition["filter"] == (
        f'metric.type="run.googleapis.com/job/completed_execution_count" AND {job} AND '
        'metric.label.result="failed"'
    )
    assert (condition["comparison"], condition["thresholdValue"], condition["duration"]) == (
        "COMPARISON_GT",
        0,
        "0s",
    )
    assert failed["severity"] == "ERROR" and failed["notificationChannels"] == ["monitoring-email-id"]
    assert "gcloud run jobs executions list --job bn-tts-batch" in failed["documentation"]["content"]

    retries = alerts["batch_retries"]
    condition = retries["conditions"][0]["conditionThreshold"]
    assert condition["filter"] == (
        f'metric.type="run.googleapis.com/job/completed_task_attempt_count" AND {job} AND '
        'metric.label.result="failed"'
    )
    # More failed attempts than one task may spend (batchMaxRetries) within the hour.
    assert (condition["comparison"], condition["thresholdValue"]) == ("COMPARISON_GT", 3)
    assert condition["aggregations"][0]["alignmentPeriod"] == "3600s"
    assert retries["notificationChannels"] == ["monitoring-email-id"]


def test_the_retry_alert_follows_batch_max_retries() -> None:
    alerts = {
        a.inputs["userLabels"]["signal"]: a.inputs
        for a in synthesize({"bn-xtts:batchMaxRetries": "0"}).of_type(ALERT)
    }
    assert alerts["batch_retries"]["conditions"][0]["conditionThreshold"]["thresholdValue"] == 0


def test_uptime_check_probes_health_through_the_load_balancer(gpu: Synth) -> None:
    check = gpu.one("gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig")
    assert check["httpCheck"]["path"] == "/health" and check["httpCheck"]["useSsl"] is True
    assert check["monitoredResource"]["labels"]["host"] == "tts.example.com"


def test_log_based_metrics_extract_ttfc_and_rtf_from_access_logs(gpu: Synth) -> None:
    metrics = {m.inputs["name"]: m.inputs for m in gpu.of_type("gcp:logging/metric:Metric")}
    ttfc, rtf = metrics["bn-tts_ttfc_ms"], metrics["bn-tts_rtf"]
    assert ttfc["valueExtractor"] == "EXTRACT(jsonPayload.ttfc_ms)"
    assert "jsonPayload.ttfc_ms:*" in ttfc["filter"] and "jsonPayload.rtf:*" in rtf["filter"]
    assert rtf["valueExtractor"] == "EXTRACT(jsonPayload.rtf)"
    for m in (ttfc, rtf):
        assert 'resource.labels.service_name="bn-tts"' in m["filter"]
        assert m["metricDescriptor"]["valueType"] == "DISTRIBUTION"
    dashboard = json.loads(gpu.one("gcp:monitoring/dashboard:Dashboard")["dashboardJson"])
    text = json.dumps(dashboard)
    assert "user/bn-tts_ttfc_ms" in text and "user/bn-tts_rtf" in text


def test_scheduler_starts_the_batch_job_with_an_identity(gpu: Synth) -> None:
    job = gpu.one(JOB)
    tmpl = job["template"]
    assert tmpl["taskCount"] == 1 and tmpl["parallelism"] == 1
    c = tmpl["template"]["containers"][0]
    assert c["image"] == container(gpu)["image"]
    assert c["commands"] == ["python", "-m", "function.batch"]
    # Its own account, not the service's (which alone may read the API keys).
    assert tmpl["template"]["serviceAccount"] == f"bn-tts-batch@{PROJECT}.iam.gserviceaccount.com"
    assert tmpl["template"]["maxRetries"] == 3 and tmpl["template"]["timeout"] == "3600s"
    trigger = gpu.one(SCHEDULER)
    target = trigger["httpTarget"]
    assert target["uri"].endswith(f"/projects/{PROJECT}/locations/us-central1/jobs/{job['name']}:run")
    assert target["httpMethod"] == "POST"
    invoker = f"bn-tts-sched@{PROJECT}.iam.gserviceaccount.com"
    assert target["oauthToken"]["serviceAccountEmail"] == invoker
    binding = gpu.one("gcp:cloudrunv2/jobIamMember:JobIamMember")
    assert binding["role"] == "roles/run.invoker" and binding["member"] == f"serviceAccount:{invoker}"
    assert binding["name"] == job["name"]


def job_env(synth: Synth) -> dict[str, Any]:
    (c,) = synth.one(JOB)["template"]["template"]["containers"]
    return {e["name"]: e.get("value", e.get("valueSource")) for e in c["envs"]}


def test_batch_job_reads_manifests_from_batch_in_and_writes_batch_out(gpu: Synth) -> None:
    e = job_env(gpu)
    bucket = f"gs://{PROJECT}-bn-tts-models"
    assert e["TTS_BATCH_INPUT"] == f"{bucket}/batch/in"
    assert e["TTS_BATCH_OUTPUT"] == f"{bucket}/batch/out"
    assert "TTS_BATCH_PATH" not in e
    # The same model, voices and clip limit as the service; no API keys, no HTTP-only limits.
    service = env(gpu)
    shared = set(e) - {"TTS_BATCH_INPUT", "TTS_BATCH_OUTPUT"}
    assert shared == {
        "TTS_MODEL_PATH",
        "TTS_MODEL_VARIANT",
        "TTS_ENABLE_GPU",
        "TTS_VOICES_PATH",
        "TTS_CACHE_DIR",
        "TTS_LOG_LEVEL",
        "TTS_MAX_REQUEST_BYTES",
        "GOOGLE_CLOUD_PROJECT",
    }
    assert {k: e[k] for k in shared} == {k: service[k] for k in shared}
    assert "TTS_API_KEYS" not in e
    assert not {"TTS_MAX_CONCURRENT_REQUESTS", "TTS_MAX_TEXT_CHARS"} & set(e)


def test_batch_tasks_parallelism_retries_and_timeout_come_from_config() -> None:
    synth = synthesize(
        {
            "bn-xtts:batchTasks": "8",
            "bn-xtts:batchParallelism": "2",
            "bn-xtts:batchMaxRetries": "0",
            "bn-xtts:batchTaskTimeoutSeconds": "1800",
        }
    )
    tmpl = synth.one(JOB)["template"]
    assert (tmpl["taskCount"], tmpl["parallelism"]) == (8, 2)
    assert (tmpl["template"]["maxRetries"], tmpl["template"]["timeout"]) == (0, "1800s")


def test_a_cpu_job_may_run_longer_than_an_hour() -> None:
    synth = synthesize({"bn-xtts:gpuType": "none", "bn-xtts:batchTaskTimeoutSeconds": "3601"})
    assert synth.one(JOB)["template"]["template"]["timeout"] == "3601s"


def test_no_schedule_configured_means_no_trigger(cpu: Synth) -> None:
    assert not cpu.of_type(SCHEDULER)
    assert cpu.of_type(JOB)


def test_outputs_name_the_https_url_run_app_url_bucket_and_repository(gpu: Synth) -> None:
    assert gpu.outputs["url"] == "https://tts.example.com/"
    assert gpu.outputs["run_app_url"].endswith(".run.app")
    assert gpu.outputs["bucket"] == f"{PROJECT}-bn-tts-models"
    assert gpu.outputs["image_repository"] == f"us-central1-docker.pkg.dev/{PROJECT}/bn-tts"
    assert gpu.outputs["image"] == container(gpu)["image"]  # what a rollback or manual `up` restores


def test_without_an_image_only_the_foundation_is_created() -> None:
    synth = synthesize({"bn-xtts:image": None})
    assert not synth.of_type(SERVICE) and not synth.of_type(JOB)
    assert synth.of_type(BUCKET) and synth.of_type("gcp:artifactregistry/repository:Repository")
    assert set(synth.outputs) == {
        "bucket",
        "image_repository",
        "runtime_service_account",
        "batch_service_account",
    }
    assert synth.outputs["batch_service_account"] == f"bn-tts-batch@{PROJECT}.iam.gserviceaccount.com"


def test_registry_has_a_cleanup_policy_and_immutable_tags(gpu: Synth) -> None:
    repo = gpu.one("gcp:artifactregistry/repository:Repository")
    assert repo["format"] == "DOCKER" and repo["dockerConfig"] == {"immutableTags": True}
    actions = {p["action"] for p in repo["cleanupPolicies"]}
    assert actions == {"KEEP", "DELETE"} and repo.get("cleanupPolicyDryRun") is False


_ENTRY_POINT_RUNNER = """
import json, runpy, sys
sys.path = [p for p in sys.path if p not in ("", ".", ROOT)]
import pulumi

exported = {}
pulumi.export = lambda key, value: exported.setdefault(key, value)

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        computed = {"email": "x@p.iam.gserviceaccount.com", "uri": "https://x.run.app"}
        return args.name + "-id", {**args.inputs, **computed}

    def call(self, args):
        return {}, None

pulumi.runtime.set_mocks(Mocks(), project="bn-xtts", stack="prod", preview=False)
pulumi.runtime.set_all_config(CONFIG, ["bn-xtts:apiKeys"])

@pulumi.runtime.test
def run():
    runpy.run_path(ROOT + "/infra", run_name="__main__")

run()
print(json.dumps(sorted(exported)))
"""


def test_entry_point_runs_as_pulumi_runs_it(tmp_path: Any) -> None:
    """Pulumi executes infra/__main__.py as a script (runpy on the directory, from elsewhere):
    its imports must resolve without the repository on sys.path, and it must export the outputs."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.infra.pulumi_harness import BASE_CONFIG

    root = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "run_program.py"
    script.write_text(f"ROOT = {root!r}\nCONFIG = {BASE_CONFIG!r}\n{_ENTRY_POINT_RUNNER}")
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr
    exported = set(json.loads(out.stdout.splitlines()[-1]))
    assert {"url", "run_app_url", "bucket", "image_repository", "image"} <= exported
