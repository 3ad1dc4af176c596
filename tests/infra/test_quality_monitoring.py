"""Quality monitoring (infra/monitoring/): log-based metrics over the service's access lines and
the batch job's item lines, the opt-in warning-share alerts and the dashboard charts, built against
Pulumi's mocks. The metric filters are run over sample log lines by a small evaluator of the part of
the Logging query language they use, so what they select is checked, not just how they read."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.pulumi_harness import IMAGE_DIGEST, FakeCloud, synthesize
from tests.pulumi_mocks import Synth

ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
METRIC = "gcp:logging/metric:Metric"
SERVICE = {"type": "cloud_run_revision", "labels": {"service_name": "bn-tts"}}
JOB = {"type": "cloud_run_job", "labels": {"job_name": "bn-tts-batch"}}
QUALITY = {
    "speaker_similarity": 0.83,
    "speech_rate": 14.2,
    "runaway": False,
    "silence_share": 0.1,
    "clipping_share": 0.0,
    "loudness_lufs": -20.5,
    "quality_warnings": ["speech_rate_high"],
    "quality_warned": True,
    "quality_attempts": 2,
    "quality_ms": 41,
}
ACCESS = {"logger": "function.access", "path": "/v1/audio/speech", "status": 200, "ttfc_ms": 312, "rtf": 0.2}
LINES: dict[str, dict[str, Any]] = {
    "service warned": {"resource": SERVICE, "jsonPayload": {**ACCESS, **QUALITY}},
    "service clean, too short for similarity": {
        "resource": SERVICE,
        "jsonPayload": {
            **ACCESS,
            **QUALITY,
            "speaker_similarity": None,
            "quality_warnings": [],
            "quality_warned": False,
            "quality_attempts": 1,
        },
    },
    "service, checks off": {"resource": SERVICE, "jsonPayload": ACCESS},
    "service startup line": {"resource": SERVICE, "jsonPayload": {"message": "model loaded"}},
    "another service": {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "other"}},
        "jsonPayload": {**ACCESS, **QUALITY},
    },
    "batch item warned": {"resource": JOB, "jsonPayload": {"event": "item", "status": "ok", **QUALITY}},
    "batch item skipped": {"resource": JOB, "jsonPayload": {"event": "item", "status": "skipped"}},
    # A summary line that happened to repeat a field: only item lines count.
    "batch summary": {"resource": JOB, "jsonPayload": {"event": "batch_done", "quality_warned": True}},
    "another job": {
        "resource": {"type": "cloud_run_job", "labels": {"job_name": "other-batch"}},
        "jsonPayload": {"event": "item", **QUALITY},
    },
}


# --- a small evaluator for the filters the program writes -------------------------------------------

_TOKEN = re.compile(r'\s*(\(|\)|AND\b|OR\b|[A-Za-z_][\w.]*(?::\*|=(?:"[^"]*"|[\w.-]+)))')


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        assert m, f"unsupported filter syntax at {text[pos:]!r}"
        out.append(m.group(1))
        pos = m.end()
    return out


def _field(entry: dict[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = entry
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _compare(entry: dict[str, Any], token: str) -> bool:
    if token.endswith(":*"):
        return _field(entry, token[:-2])[0]
    path, raw = token.split("=", 1)
    found, value = _field(entry, path)
    if not found:
        return False
    if raw.startswith('"'):
        return isinstance(value, str) and value == raw[1:-1]
    if raw in ("true", "false"):
        return value is (raw == "true")
    return value == float(raw)


def matches(log_filter: str, entry: dict[str, Any]) -> bool:
    """Evaluates AND, OR, parentheses, `field:*` and `field=value`. A level that mixes AND and OR
    is refused: the program parenthesises every mix (the query language's precedence is not SQL's)."""
    tokens = _tokens(log_filter)

    def expr(i: int) -> tuple[bool, int]:
        value, i = term(i)
        ops = set()
        while i < len(tokens) and tokens[i] in ("AND", "OR"):
            op = tokens[i]
            ops.add(op)
            assert len(ops) == 1, f"AND and OR mixed without parentheses in {log_filter!r}"
            right, i = term(i + 1)
            value = (value and right) if op == "AND" else (value or right)
        return value, i

    def term(i: int) -> tuple[bool, int]:
        if tokens[i] == "(":
            value, i = expr(i + 1)
            assert tokens[i] == ")"
            return value, i + 1
        return _compare(entry, tokens[i]), i + 1

    value, end = expr(0)
    assert end == len(tokens), f"trailing tokens in {log_filter!r}"
    return value


def selected(log_filter: str) -> set[str]:
    return {name for name, line in LINES.items() if matches(log_filter, line)}


def extracted(extractor: str, entry: dict[str, Any]) -> float | None:
    """EXTRACT(field): a value that does not convert to a double is left out of the distribution
    (LogMetric.valueExtractor, https://cloud.google.com/logging/docs/reference/v2/rest/v2/projects.metrics)."""
    path = re.fullmatch(r"EXTRACT\(([\w.]+)\)", extractor)
    assert path, extractor
    _, value = _field(entry, path.group(1))
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain() -> Synth:
    return synthesize()


@pytest.fixture(scope="module")
def alerting() -> Synth:
    # A later run (a release is recorded): the first deploy refuses the key (infra/release.py).
    cloud = FakeCloud()
    cloud.deployed(IMAGE_DIGEST, "v1")
    return synthesize({"bn-xtts:qualityWarningShare": "0.25"}, cloud)


def metrics(synth: Synth) -> dict[str, dict[str, Any]]:
    return {m.inputs["name"]: dict(m.inputs) for m in synth.of_type(METRIC)}


def alerts(synth: Synth) -> dict[str, dict[str, Any]]:
    return {a.inputs["userLabels"]["signal"]: dict(a.inputs) for a in synth.of_type(ALERT)}


# --- metrics -----------------------------------------------------------------------------------------


def test_the_evaluator_reads_the_existing_access_log_metrics_as_before(plain: Synth) -> None:
    """ttfc_ms and rtf still read the service's access lines only (the batch job has no TTFC)."""
    ttfc = metrics(plain)["bn-tts_ttfc_ms"]
    assert selected(ttfc["filter"]) == {
        "service warned",
        "service clean, too short for similarity",
        "service, checks off",
    }


def test_similarity_and_speech_rate_are_distributions_over_service_and_batch_lines(plain: Synth) -> None:
    found = metrics(plain)
    for field in ("speaker_similarity", "speech_rate"):
        m = found[f"bn-tts_{field}"]
        assert m["filter"].endswith(f"jsonPayload.{field}:*")
        assert m["valueExtractor"] == f"EXTRACT(jsonPayload.{field})"
        assert (m["metricDescriptor"]["metricKind"], m["metricDescriptor"]["valueType"]) == (
            "DELTA",
            "DISTRIBUTION",
        )
        assert selected(m["filter"]) == {
            "service warned",
            "service clean, too short for similarity",
            "batch item warned",
        }
    # A null similarity (under 0.5 s of speech) matches the filter but records nothing.
    sim = found["bn-tts_speaker_similarity"]
    recorded = {n: extracted(sim["valueExtractor"], LINES[n]) for n in selected(sim["filter"])}
    assert recorded == {
        "service warned": 0.83,
        "service clean, too short for similarity": None,
        "batch item warned": 0.83,
    }


def test_bucket_options_cover_each_signals_range(plain: Synth) -> None:
    """Similarity is a cosine (-1..1), read at 0.02 everywhere; speech rate 0..40 characters per
    second at 0.5. Linear buckets: offset + width * count is the top of the last finite bucket."""
    found = metrics(plain)
    sim = found["bn-tts_speaker_similarity"]["bucketOptions"]["linearBuckets"]
    assert sim["offset"] == -1.0 and sim["width"] <= 0.02
    assert sim["offset"] + sim["width"] * sim["numFiniteBuckets"] == pytest.approx(1.0)
    rate = found["bn-tts_speech_rate"]["bucketOptions"]["linearBuckets"]
    assert rate["offset"] == 0.0 and rate["width"] <= 0.5
    assert rate["offset"] + rate["width"] * rate["numFiniteBuckets"] == pytest.approx(40.0)
    assert found["bn-tts_speech_rate"]["metricDescriptor"]["unit"] == "{char}/s"
    # The latency metrics keep their exponential buckets.
    assert "exponentialBuckets" in found["bn-tts_ttfc_ms"]["bucketOptions"]


def test_counters_count_checked_and_warned_syntheses_with_the_attempts_label(plain: Synth) -> None:
    found = metrics(plain)
    checked, warned = found["bn-tts_quality_checked"], found["bn-tts_quality_warned"]
    for m in (checked, warned):
        assert (m["metricDescriptor"]["metricKind"], m["metricDescriptor"]["valueType"]) == ("DELTA", "INT64")
        assert "valueExtractor" not in m and "bucketOptions" not in m  # a counter counts lines
    # Every checked line carries quality_warned (true or false); the skipped item, the summary line
    # and the service with the checks off do not count.
    assert selected(checked["filter"]) == {
        "service warned",
        "service clean, too short for similarity",
        "batch item warned",
    }
    assert selected(warned["filter"]) == {"service warned", "batch item warned"}
    # Retries: attempts (over 1: retried) as a STRING label (in an INT64 one a value that failed to
    # convert would read as 0).
    assert checked["labelExtractors"] == {"attempts": "EXTRACT(jsonPayload.quality_attempts)"}
    assert checked["metricDescriptor"]["labels"] == [{"key": "attempts", "valueType": "STRING"}]
    assert "labelExtractors" not in warned


# --- alerts ------------------------------------------------------------------------------------------


def test_no_quality_alert_unless_the_share_is_configured(plain: Synth) -> None:
    """Opt-in: a policy created in the same run as its log-based metric fails with 404 on a fresh
    project; the quality metrics and charts exist either way."""
    assert not {"quality", "batch_quality"} & set(alerts(plain))
    assert "bn-tts_quality_warned" in metrics(plain)


@pytest.mark.parametrize(
    ("signal", "resource"), [("quality", "cloud_run_revision"), ("batch_quality", "cloud_run_job")]
)
def test_the_quality_alert_is_a_warned_over_checked_ratio_per_hour_with_a_minimum_sample(
    alerting: Synth, signal: str, resource: str
) -> None:
    policy = alerts(alerting)[signal]
    assert policy["combiner"] == "AND" and policy["severity"] == "WARNING"
    assert policy["notificationChannels"] == ["monitoring-email-id"]  # as every other alert
    ratio, sample = (c["conditionThreshold"] for c in policy["conditions"])
    on = f'AND resource.type="{resource}"'
    assert ratio["filter"] == f'metric.type="logging.googleapis.com/user/bn-tts_quality_warned" {on}'
    assert (
        ratio["denominatorFilter"] == f'metric.type="logging.googleapis.com/user/bn-tts_quality_checked" {on}'
    )
    # The API: only COMPARISON_GT/LT for metric thresholds; for a ratio, numerator and denominator
    # aggregated with the same alignment period and labels (one series each, no grouping).
    assert (ratio["comparison"], ratio["thresholdValue"]) == ("COMPARISON_GT", 0.25)
    assert ratio["denominatorAggregations"] == ratio["aggregations"]
    (agg,) = ratio["aggregations"]
    assert agg == {
        "alignmentPeriod": "3600s",
        "perSeriesAligner": "ALIGN_SUM",
        "crossSeriesReducer": "REDUCE_SUM",
    }
    # At least 20 checked in the same hour, on the same resource type.
    assert sample["filter"] == ratio["denominatorFilter"] and "denominatorFilter" not in sample
    assert (sample["comparison"], sample["thresholdValue"]) == ("COMPARISON_GT", 19.5)
    assert sample["aggregations"] == ratio["aggregations"]
    for condition in (ratio, sample):
        seconds = int(condition["aggregations"][0]["alignmentPeriod"].rstrip("s"))
        assert 60 <= seconds <= 90_000  # Aggregation.alignmentPeriod's bounds for alerting policies
        assert int(condition["duration"].rstrip("s")) % 60 == 0  # MetricThreshold.duration: whole minutes


def test_the_runbook_gives_the_log_query_of_what_the_alert_counts(alerting: Synth) -> None:
    found = metrics(alerting)
    for signal, lines in (("quality", {"service warned"}), ("batch_quality", {"batch item warned"})):
        doc = alerts(alerting)[signal]["documentation"]
        assert doc["mimeType"] == "text/markdown"
        content = doc["content"]
        query = re.search(r"Logs Explorer: `([^`]+)`", content)
        assert query and query.group(1).endswith("jsonPayload.quality_warned=true")
        # The query shows exactly the lines of this source that the warned counter counts.
        assert selected(query.group(1)) == lines
        assert lines <= selected(found["bn-tts_quality_warned"]["filter"])
        for code in ("runaway", "speech_rate_low", "speech_rate_high", "low_speaker_similarity", "clipping"):
            assert f"`{code}`" in content
        assert "Quality signals" in content and "over 25%" in content.lower()


def test_the_quality_alerts_are_created_after_their_metrics(alerting: Synth) -> None:
    for signal in ("quality", "batch-quality"):
        before = alerting.depends_on(alerting.urn(ALERT, f"monitoring-{signal}"))
        for suffix in ("quality_checked", "quality_warned"):
            assert alerting.urn(METRIC, f"monitoring-{suffix}") in before


def test_the_quality_alerts_are_the_only_ones_on_a_log_based_metric(alerting: Synth) -> None:
    on_user_metrics = {
        s for s, a in alerts(alerting).items() if "logging.googleapis.com/user/" in json.dumps(a)
    }
    assert on_user_metrics == {"quality", "batch_quality"}


# --- dashboard ---------------------------------------------------------------------------------------


def charts(synth: Synth) -> dict[str, dict[str, Any]]:
    board = json.loads(synth.one("gcp:monitoring/dashboard:Dashboard")["dashboardJson"])
    return {t["widget"]["title"]: t["widget"] for t in board["mosaicLayout"]["tiles"]}


def datasets(chart: dict[str, Any]) -> list[dict[str, Any]]:
    return chart["xyChart"]["dataSets"]


def test_dashboard_charts_similarity_and_speech_rate_percentiles_per_source(plain: Synth) -> None:
    found = charts(plain)
    for title, metric, wanted in (
        ("Speaker similarity p50 and p5 (cosine)", "bn-tts_speaker_similarity", {"p50", "p5"}),
        (
            "Speech rate p5, p50, p95 (spoken characters per second)",
            "bn-tts_speech_rate",
            {"p5", "p50", "p95"},
        ),
    ):
        lines = {}
        for d in datasets(found[title]):
            query = d["timeSeriesQuery"]["timeSeriesFilter"]
            assert f'metric.type="logging.googleapis.com/user/{metric}"' in query["filter"]
            resource = re.search(r'resource.type="(\w+)"', query["filter"]).group(1)
            lines[d["legendTemplate"]] = (resource, query["aggregation"]["crossSeriesReducer"])
        reducers = {
            "p5": "REDUCE_PERCENTILE_05",
            "p50": "REDUCE_PERCENTILE_50",
            "p95": "REDUCE_PERCENTILE_95",
        }
        assert lines == {
            f"{source} {p}": (resource, reducers[p])
            for source, resource in (("service", "cloud_run_revision"), ("batch", "cloud_run_job"))
            for p in wanted
        }


def test_dashboard_charts_the_warning_share_the_alert_compares_and_the_retries(plain: Synth) -> None:
    found = charts(plain)
    share = datasets(found["Quality warning share per hour (warned / checked)"])
    assert [d["legendTemplate"] for d in share] == ["service", "batch"]
    for d in share:
        ratio = d["timeSeriesQuery"]["timeSeriesFilterRatio"]
        assert "user/bn-tts_quality_warned" in ratio["numerator"]["filter"]
        assert "user/bn-tts_quality_checked" in ratio["denominator"]["filter"]
        assert ratio["numerator"]["aggregation"] == ratio["denominator"]["aggregation"]
        assert ratio["numerator"]["aggregation"]["alignmentPeriod"] == "3600s"
    retries = datasets(found["Quality-checked syntheses by attempts (over 1: retried with another seed)"])
    for d in retries:
        query = d["timeSeriesQuery"]["timeSeriesFilter"]
        assert "user/bn-tts_quality_checked" in query["filter"]
        assert query["aggregation"]["groupByFields"] == ["metric.label.attempts"]
    # The existing charts stay, every tile has a place, no two overlap.
    assert "Time to first chunk p50 (ms)" in found and "Batch task attempts by result" in found
    board = json.loads(plain.one("gcp:monitoring/dashboard:Dashboard")["dashboardJson"])
    places = [(t["xPos"], t["yPos"]) for t in board["mosaicLayout"]["tiles"]]
    assert len(places) == len(set(places)) == 13
