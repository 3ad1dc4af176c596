"""The whole Pulumi program, built against mocks: the properties production relies on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime import rpc

from tests.infra.pulumi_harness import IMAGE_DIGEST, PROJECT, synthesize
from tests.pulumi_mocks import Synth

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


def test_request_concurrency_is_the_engines_slots_plus_queue_plus_headroom() -> None:
    """Cloud Run may send slots + queue + 4 requests: /health, /voices and monitoring calls never
    wait for a synthesis slot, and the app answers 429 itself once its queue is full."""
    synth = synthesize({"bn-xtts:concurrency": "7", "bn-xtts:queueSize": "5"})
    assert synth.one(SERVICE)["template"]["maxInstanceRequestConcurrency"] == 7 + 5 + 4
    e = env(synth)
    assert e["TTS_MAX_CONCURRENT_REQUESTS"] == e["TTS_MAX_BATCH"] == "7"
    assert (e["TTS_QUEUE_SIZE"], e["TTS_WORKERS"]) == ("5", "1")
    default = env(synthesize())
    assert (default["TTS_MAX_BATCH"], default["TTS_QUEUE_SIZE"]) == ("4", "4")


def test_scaling_bounds_are_the_services_not_a_revisions() -> None:
    """max_instance_count on the template is per revision: during a rollout two revisions could
    each hold maxInstances GPUs. The service-level bound covers all revisions together."""
    synth = synthesize(
        {"bn-xtts:minInstances": "1", "bn-xtts:maxInstances": "3", "bn-xtts:requestTimeoutSeconds": "900"}
    )
    svc = synth.one(SERVICE)
    assert svc["scaling"] == {"minInstanceCount": 1, "maxInstanceCount": 3}
    assert "scaling" not in svc["template"]
    assert svc["template"]["timeout"] == "900s"


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
    # Deployed by digest (resolved from the configured tag): what runs is exactly what was pushed.
    assert container(gpu)["image"] == IMAGE_DIGEST
    assert e["TTS_FORWARDED_FOR_HOPS"] == "2"  # client, load balancer
    # Cloud Run ends a WebSocket at the request timeout (docs: run/docs/triggering/websockets): the
    # server ends its voice-agent sockets first, with a close frame that says to reconnect.
    timeout_s = int(gpu.one(SERVICE)["template"]["timeout"].rstrip("s"))
    assert 0 < timeout_s - int(e["TTS_WS_MAX_SECONDS"]) <= 5


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


def test_cloud_armor_throttles_and_bans_each_ip_with_429(gpu: Synth) -> None:
    rules = gpu.one(ARMOR)["rules"]
    limited = [r for r in rules if "rateLimitOptions" in r]
    assert len(limited) == 1 and limited[0]["action"] == "rate_based_ban"
    options = limited[0]["rateLimitOptions"]
    assert options["conformAction"] == "allow"
    assert options["exceedAction"] == "deny(429)" and options["enforceOnKey"] == "IP"
    assert options["rateLimitThreshold"] == {"count": 30, "intervalSec": 60}  # the throttle
    assert options["banThreshold"] == {"count": 300, "intervalSec": 600}  # the ban beside it
    assert options["banDurationSec"] == 600
    default = max(rules, key=lambda r: r["priority"])
    assert default["action"] == "allow"
    custom = synthesize({"bn-xtts:banThreshold": "50", "bn-xtts:banDurationSeconds": "1800"}).one(ARMOR)
    (rule,) = [r for r in custom["rules"] if "rateLimitOptions" in r]
    assert rule["rateLimitOptions"]["banThreshold"]["count"] == 50
    assert rule["rateLimitOptions"]["banDurationSec"] == 1800


def test_allow_list_limits_sources_and_denies_the_rest() -> None:
    ranges = [f"198.51.100.{i}/32" for i in range(12)]
    rules = synthesize({"bn-xtts:allowList": json.dumps(ranges)}).one(ARMOR)["rules"]
    by_source = [r for r in rules if "rateLimitOptions" in r and "config" in r["match"]]
    throttled = [ip for r in by_source for ip in r["match"]["config"]["srcIpRanges"]]
    assert sorted(throttled) == sorted(ranges)  # split across rules of at most 10 ranges
    assert all(len(r["match"]["config"]["srcIpRanges"]) <= 10 for r in by_source)
    assert max(rules, key=lambda r: r["priority"])["action"] == "deny(403)"
    # /health stays reachable from anywhere, rate-limited.
    health = [r for r in rules if r["match"].get("expr", {}).get("expression") == "request.path == '/health'"]
    assert len(health) == 1 and health[0]["action"] == "rate_based_ban"
    assert health[0]["rateLimitOptions"]["exceedAction"] == "deny(429)"


def waf_rules(rules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for r in rules:
        expression = r["match"].get("expr", {}).get("expression", "")
        if expression.startswith("evaluatePreconfiguredWaf("):
            found[expression.split("'")[1]] = r
    return found


def test_cloud_armor_runs_the_preconfigured_waf_tuned_for_bangla_and_base64(gpu: Synth) -> None:
    policy = gpu.one(ARMOR)
    waf = waf_rules(policy["rules"])
    assert set(waf) == {
        f"{name}-v33-stable"
        for name in ("sqli", "xss", "lfi", "rce", "rfi", "scannerdetection", "protocolattack")
    }
    for rule in waf.values():
        expression = rule["match"]["expr"]["expression"]
        assert "'sensitivity': 1" in expression, expression  # paranoia level 1 signatures only
        assert rule["action"] == "deny(403)" and rule["preview"] is False
    # UTF-8 Bengali is full of 0xBC/0xBE bytes, which 941310 reads as malformed-encoding XSS.
    assert (
        "'opt_out_rule_ids': ['owasp-crs-v030301-id941310-xss']"
        in waf["xss-v33-stable"]["match"]["expr"]["expression"]
    )
    # JSON bodies are parsed: the WAF inspects the values (text, base64), not the JSON around them.
    assert policy["advancedOptionsConfig"] == {"jsonParsing": "STANDARD"}
    # Every deny comes before the first rule that allows (first match wins).
    first_allow = min(
        r["priority"] for r in policy["rules"] if r["action"] == "allow" or "rateLimitOptions" in r
    )
    assert all(r["priority"] < first_allow for r in waf.values())
    preview = waf_rules(synthesize({"bn-xtts:wafPreview": "true"}).one(ARMOR)["rules"])
    assert all(r["preview"] is True for r in preview.values())
    # Cloud Armor limits a rule's description to 64 characters.
    everything = synthesize({"bn-xtts:edgeRequireAuth": "true", "bn-xtts:allowList": "203.0.113.0/24"})
    assert all(len(r["description"]) <= 64 for r in everything.one(ARMOR)["rules"])


def test_edge_can_turn_away_requests_without_a_key() -> None:
    """With edgeRequireAuth, a request without `Authorization: Bearer` (the only way the app takes
    a key) never reaches the service, except /health. On by default with a GPU (issue 24: keyless
    scanner traffic cold-started L4 instances), off by default on CPU."""

    def auth_rules(overrides: dict[str, str]) -> list[object]:
        return [r for r in synthesize(overrides).one(ARMOR)["rules"] if "authorization" in json.dumps(r)]

    assert auth_rules({}) and not auth_rules({"bn-xtts:edgeRequireAuth": "false"})
    cpu_stack = {"bn-xtts:gpuType": "none", "bn-xtts:modelVariant": "int8"}
    assert not auth_rules(cpu_stack) and auth_rules({**cpu_stack, "bn-xtts:edgeRequireAuth": "true"})
    rules = synthesize({"bn-xtts:edgeRequireAuth": "true"}).one(ARMOR)["rules"]
    (auth,) = [r for r in rules if "authorization" in json.dumps(r)]
    expression = auth["match"]["expr"]["expression"]
    assert auth["action"] == "deny(403)"
    assert "request.path != '/health'" in expression
    assert "has(request.headers['authorization'])" in expression
    assert "startsWith('bearer ')" in expression and ".lower()" in expression
    first_allow = min(r["priority"] for r in rules if r["action"] == "allow" or "rateLimitOptions" in r)
    assert auth["priority"] < first_allow


def test_edge_is_an_external_managed_https_load_balancer(gpu: Synth) -> None:
    neg = gpu.one("gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup")
    assert neg["networkEndpointType"] == "SERVERLESS" and neg["cloudRun"] == {"service": "bn-tts"}
    backend = gpu.one("gcp:compute/backendService:BackendService")
    assert backend["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert backend["securityPolicy"] == "edge-armor-id"
    # No backend timeout: Google refuses one on a backend of serverless NEGs (400 "Timeout sec is not
    # supported for a backend service with Serverless network endpoint groups"); what bounds a
    # request, a voice agent's WebSocket included, is the Cloud Run service's request timeout
    # (https://cloud.google.com/run/docs/triggering/websockets), which TTS_WS_MAX_SECONDS follows.
    assert "timeoutSec" not in backend
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
    maps = {m.name: m.inputs for m in gpu.of_type("gcp:compute/uRLMap:URLMap")}
    assert maps["edge-redirect"]["defaultUrlRedirect"]["httpsRedirect"] is True
    # Only the domain reaches the backend; any other Host is redirected at the edge (issue 24).
    https = maps["edge-https"]
    assert https["hostRules"] == [{"hosts": ["tts.example.com"], "pathMatcher": "service"}]
    assert https["pathMatchers"] == [{"name": "service", "defaultService": "edge-backend-id"}]
    assert "defaultService" not in https
    assert https["defaultUrlRedirect"]["hostRedirect"] == "tts.example.com"


def test_alert_policies_cover_each_signal(gpu: Synth) -> None:
    alerts = {a.inputs["userLabels"]["signal"]: a.inputs for a in gpu.of_type(ALERT)}
    assert set(alerts) >= {
        "5xx", "latency", "max_instances", "cold_start", "batch_failed", "edge", "edge_5xx", "certificate"
    }  # fmt: skip
    channel = "monitoring-email-id"
    assert all(a["notificationChannels"] == [channel] for a in alerts.values())
    five_xx = alerts["5xx"]["conditions"][0]["conditionThreshold"]
    assert 'response_code_class="5xx"' in five_xx["filter"] and "denominatorFilter" in five_xx
    latency = alerts["latency"]["conditions"][0]["conditionThreshold"]
    assert latency["aggregations"][0]["crossSeriesReducer"] == "REDUCE_PERCENTILE_95"


def test_at_max_instances_counts_only_active_instances(gpu: Synth) -> None:
    """instance_count has a `state` label (active/idle): warm idle instances are not load."""
    alerts = {a.inputs["userLabels"]["signal"]: a.inputs for a in gpu.of_type(ALERT)}
    at_max = alerts["max_instances"]["conditions"][0]["conditionThreshold"]
    assert (
        "container/instance_count" in at_max["filter"] and 'metric.label.state="active"' in at_max["filter"]
    )
    assert at_max["thresholdValue"] == 1.5  # maxInstances 2, summed over revisions
    assert at_max["aggregations"][0]["crossSeriesReducer"] == "REDUCE_SUM"


def test_cold_start_alert_needs_no_new_metric_to_exist(gpu: Synth) -> None:
    """A log-match condition: an alert on a brand-new log-based metric fails on a fresh project
    (the metric is not visible to Monitoring for minutes); a log match references no metric."""
    alerts = {a.inputs["userLabels"]["signal"]: a.inputs for a in gpu.of_type(ALERT)}
    cold = alerts["cold_start"]
    (condition,) = cold["conditions"]
    assert set(condition) == {"displayName", "conditionMatchedLog"}
    assert "probe failed" in condition["conditionMatchedLog"]["filter"]
    assert 'resource.labels.service_name="bn-tts"' in condition["conditionMatchedLog"]["filter"]
    assert cold["alertStrategy"]["notificationRateLimit"] == {"period": "300s"}  # required for log matches
    # No alert anywhere watches a log-based (user) metric this program creates in the same run (the
    # opt-in quality alerts, set on a later run, are the exception: test_quality_monitoring.py).
    assert not [a for a in alerts.values() if "logging.googleapis.com/user/" in json.dumps(a)]
    assert "bn-tts_cold_start_failures" not in {
        m.inputs["name"] for m in gpu.of_type("gcp:logging/metric:Metric")
    }


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


UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"


def test_scale_to_zero_holds_nothing_scheduled_reaches_the_service(gpu: Synth) -> None:
    """minInstances 0: the only uptime check asks a path Cloud Armor answers itself (403), every
    5 minutes; it proves DNS, the certificate, the load balancer and the policy, never wakes a GPU."""
    (check,) = [c.inputs for c in gpu.of_type(UPTIME)]
    assert check["httpCheck"]["path"] == "/__edge/probe" and check["httpCheck"]["validateSsl"] is True
    assert check["httpCheck"]["acceptedResponseStatusCodes"] == [{"statusValue": 403}]
    assert check["period"] == "300s"
    assert check["monitoredResource"]["labels"]["host"] == "tts.example.com"
    first = min(gpu.one(ARMOR)["rules"], key=lambda r: r["priority"])
    assert first["match"]["expr"]["expression"] == "request.path == '/__edge/probe'"
    assert first["action"] == "deny(403)"
    # Nothing else scheduled calls the service: the scheduler starts the job through the Run API.
    assert gpu.one(SCHEDULER)["httpTarget"]["uri"].startswith("https://run.googleapis.com/v2/")


def test_the_edge_is_watched_by_probe_certificate_and_load_balancer_metrics(gpu: Synth) -> None:
    alerts = {a.inputs["userLabels"]["signal"]: a.inputs for a in gpu.of_type(ALERT)}
    edge = alerts["edge"]["conditions"][0]["conditionThreshold"]
    assert (
        "uptime_check/check_passed" in edge["filter"] and 'check_id="monitoring-edge-check"' in edge["filter"]
    )
    cert = alerts["certificate"]["conditions"][0]["conditionThreshold"]
    assert "uptime_check/time_until_ssl_cert_expires" in cert["filter"]
    assert (cert["comparison"], cert["thresholdValue"]) == ("COMPARISON_LT", 14)
    lb = alerts["edge_5xx"]["conditions"][0]["conditionThreshold"]
    assert 'metric.type="loadbalancing.googleapis.com/https/request_count"' in lb["filter"]
    assert 'resource.type="https_lb_rule"' in lb["filter"] and 'url_map_name="bn-tts-https"' in lb["filter"]
    assert "metric.label.response_code_class=500" in lb["filter"]
    assert "response_code_class" not in lb["denominatorFilter"]
    assert "uptime" not in alerts  # no /health check with minInstances 0


def test_health_is_probed_only_when_an_instance_is_kept_warm() -> None:
    synth = synthesize({"bn-xtts:minInstances": "1"})
    paths = sorted(c.inputs["httpCheck"]["path"] for c in synth.of_type(UPTIME))
    assert paths == ["/__edge/probe", "/health"]
    health = next(c.inputs for c in synth.of_type(UPTIME) if c.inputs["httpCheck"]["path"] == "/health")
    assert health["httpCheck"]["acceptedResponseStatusCodes"] == [{"statusValue": 200}]
    alerts = {a.inputs["userLabels"]["signal"] for a in synth.of_type(ALERT)}
    assert "uptime" in alerts


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
    assert gpu.outputs["image"] == container(gpu)["image"] == IMAGE_DIGEST
    assert gpu.outputs["model_version"] == "v1"
    assert gpu.outputs["release_record"] == f"gs://{PROJECT}-bn-tts-models/deploy/test/release.json"


def test_without_an_image_only_the_foundation_is_created() -> None:
    synth = synthesize({"bn-xtts:image": None})
    assert not synth.of_type(SERVICE) and not synth.of_type(JOB)
    assert synth.of_type(BUCKET) and synth.of_type("gcp:artifactregistry/repository:Repository")
    assert set(synth.outputs) == {
        "bucket",
        "image_repository",
        "runtime_service_account",
        "batch_service_account",
        "invoker_service_account",
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
        # The project has the bucket, the bundle's manifests and the image; no release record, no service.
        a = dict(args.args)
        if args.token.endswith("getBuckets"):
            return {"buckets": [{"name": a["prefix"], "labels": {}, "location": "US", "selfLink": ""}]}, []
        if args.token.endswith("getBucketObjects"):
            name = a["matchGlob"]
            found = [{"name": name, "contentType": "", "mediaLink": "", "selfLink": "", "storageClass": ""}]
            return {"bucketObjects": found if name.endswith("manifest.json") else []}, []
        if args.token.endswith("getDockerImage"):
            return {"selfLink": "r/server@sha256:" + "a" * 64}, []
        if args.token.endswith("getService"):  # nothing deployed yet
            return {}, [("name", "googleapi: Error 404: service not found")]
        return {}, []

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
