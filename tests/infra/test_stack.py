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
    assert any(c.get("age") and c["matchesPrefixes"] == ["batch/"] for c in conditions)
    bindings = gpu.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert all(not b.inputs["member"].startswith(("allUsers", "allAuthenticatedUsers")) for b in bindings)


def test_runtime_account_reads_models_and_writes_only_voices_and_batch(gpu: Synth) -> None:
    bindings = {
        b.inputs["role"]: b.inputs for b in gpu.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    }
    assert set(bindings) == {"roles/storage.objectViewer", "roles/storage.objectUser"}
    read = bindings["roles/storage.objectViewer"]["condition"]["expression"]
    write = bindings["roles/storage.objectUser"]["condition"]["expression"]
    assert "/objects/models/" in read and "voices/" not in read
    assert "/objects/voices/" in write and "/objects/batch/" in write
    assert "/objects/models/" not in write and 'startsWith("models/")' not in write


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
    assert set(alerts) >= {"uptime", "5xx", "latency", "max_instances", "cold_start"}
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
    assert tmpl["template"]["serviceAccount"] == f"bn-tts-run@{PROJECT}.iam.gserviceaccount.com"
    trigger = gpu.one(SCHEDULER)
    target = trigger["httpTarget"]
    assert target["uri"].endswith(f"/projects/{PROJECT}/locations/us-central1/jobs/{job['name']}:run")
    assert target["httpMethod"] == "POST"
    invoker = f"bn-tts-sched@{PROJECT}.iam.gserviceaccount.com"
    assert target["oauthToken"]["serviceAccountEmail"] == invoker
    binding = gpu.one("gcp:cloudrunv2/jobIamMember:JobIamMember")
    assert binding["role"] == "roles/run.invoker" and binding["member"] == f"serviceAccount:{invoker}"
    assert binding["name"] == job["name"]


def test_batch_tasks_and_parallelism_come_from_config() -> None:
    tmpl = synthesize({"bn-xtts:batchTasks": "8", "bn-xtts:batchParallelism": "2"}).one(JOB)["template"]
    assert (tmpl["taskCount"], tmpl["parallelism"]) == (8, 2)


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
    assert set(synth.outputs) == {"bucket", "image_repository", "runtime_service_account"}


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
