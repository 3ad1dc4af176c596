"""The dashboard: request, latency, instance, edge, batch and quality charts (Cloud Monitoring
mosaic layout JSON).
"""

from __future__ import annotations

from typing import Any

import pulumi_gcp as gcp

from infra.config import DeployConfig
from infra.monitoring.metrics import (
    JOB_TASK_ATTEMPTS,
    PERCENTILES,
    QUALITY_CHECKED,
    QUALITY_SOURCES,
    QUALITY_WARNED,
    QUALITY_WINDOW,
    RUN_INSTANCES,
    RUN_LATENCIES,
    RUN_REQUESTS,
    RUN_REVISION,
    Source,
    job_metric_filter,
    lb_metric_filter,
    run_metric_filter,
    user_metric_filter,
)

mon = gcp.monitoring


def _series(
    metric_filter: str,
    aligner: str,
    reducer: str,
    group_by: list[str] | None = None,
    *,
    period: str = "60s",
    legend: str | None = None,
) -> dict[str, Any]:
    """One line (or one per group) of an xy chart."""
    return _dataset({"timeSeriesFilter": _part(metric_filter, aligner, reducer, group_by, period)}, legend)


def _ratio_series(
    numerator: str, denominator: str, aligner: str, reducer: str, *, period: str, legend: str | None = None
) -> dict[str, Any]:
    """numerator / denominator, both aggregated alike."""
    ratio = {
        "numerator": _part(numerator, aligner, reducer, None, period),
        "denominator": _part(denominator, aligner, reducer, None, period),
    }
    return _dataset({"timeSeriesFilterRatio": ratio}, legend)


def _part(
    metric_filter: str, aligner: str, reducer: str, group_by: list[str] | None, period: str
) -> dict[str, Any]:
    aggregation: dict[str, Any] = {
        "alignmentPeriod": period,
        "perSeriesAligner": aligner,
        "crossSeriesReducer": reducer,
    }
    if group_by:
        aggregation["groupByFields"] = group_by
    return {"filter": metric_filter, "aggregation": aggregation}


def _dataset(query: dict[str, Any], legend: str | None) -> dict[str, Any]:
    dataset: dict[str, Any] = {"plotType": "LINE", "timeSeriesQuery": query}
    if legend:
        dataset["legendTemplate"] = legend
    return dataset


def _xy(title: str, datasets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"title": title, "xyChart": {"dataSets": datasets}}


def _chart(
    title: str, metric_filter: str, aligner: str, reducer: str, group_by: list[str] | None = None
) -> Any:
    return _xy(title, [_series(metric_filter, aligner, reducer, group_by)])


def quality_charts(names: dict[str, str]) -> list[dict[str, Any]]:
    """Per source (service, batch): similarity and speech rate percentiles, the warning share the
    alert compares (per hour, as the alert aligns), and checked syntheses by attempts (over 1: retried)."""

    def of(suffix: str, source: Source) -> str:
        return user_metric_filter(names[suffix], source.resource_type)

    def percentiles(suffix: str, *which: str) -> list[dict[str, Any]]:
        return [
            _series(of(suffix, s), "ALIGN_DELTA", PERCENTILES[p], legend=f"{s.name} {p}")
            for s in QUALITY_SOURCES
            for p in which
        ]

    checked, warned = QUALITY_CHECKED.suffix, QUALITY_WARNED.suffix
    return [
        _xy("Speaker similarity p50 and p5 (cosine)", percentiles("speaker_similarity", "p50", "p5")),
        _xy(
            "Speech rate p5, p50, p95 (spoken characters per second)",
            percentiles("speech_rate", "p5", "p50", "p95"),
        ),
        _xy(
            "Quality warning share per hour (warned / checked)",
            [
                _ratio_series(
                    of(warned, s),
                    of(checked, s),
                    "ALIGN_SUM",
                    "REDUCE_SUM",
                    period=QUALITY_WINDOW,
                    legend=s.name,
                )
                for s in QUALITY_SOURCES
            ],
        ),
        _xy(
            "Quality-checked syntheses by attempts (over 1: retried with another seed)",
            [
                _series(
                    of(checked, s),
                    "ALIGN_SUM",
                    "REDUCE_SUM",
                    ["metric.label.attempts"],
                    legend=f"{s.name}, attempts ${{metric.labels.attempts}}",
                )
                for s in QUALITY_SOURCES
            ],
        ),
    ]


def dashboard(cfg: DeployConfig, log_metric_names: dict[str, str]) -> dict[str, Any]:
    ttfc, rtf = (user_metric_filter(log_metric_names[s], RUN_REVISION) for s in ("ttfc_ms", "rtf"))
    charts = [
        _chart(
            "Requests by status class",
            run_metric_filter(cfg, RUN_REQUESTS),
            "ALIGN_RATE",
            "REDUCE_SUM",
            ["metric.label.response_code_class"],
        ),
        _chart(
            "Load balancer requests by status class (what clients saw)",
            lb_metric_filter(cfg),
            "ALIGN_RATE",
            "REDUCE_SUM",
            ["metric.label.response_code_class"],
        ),
        _chart(
            "Request latency p95 (ms)",
            run_metric_filter(cfg, RUN_LATENCIES),
            "ALIGN_DELTA",
            "REDUCE_PERCENTILE_95",
        ),
        _chart(
            "Instances",
            run_metric_filter(cfg, RUN_INSTANCES),
            "ALIGN_MAX",
            "REDUCE_SUM",
            ["metric.label.state"],
        ),
        _chart("Time to first chunk p50 (ms)", ttfc, "ALIGN_DELTA", "REDUCE_PERCENTILE_50"),
        _chart("Time to first chunk p95 (ms)", ttfc, "ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
        _chart("Real-time factor p50", rtf, "ALIGN_DELTA", "REDUCE_PERCENTILE_50"),
        _chart("Real-time factor p95", rtf, "ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
        _chart(
            "Batch task attempts by result",
            job_metric_filter(cfg, JOB_TASK_ATTEMPTS),
            "ALIGN_SUM",
            "REDUCE_SUM",
            ["metric.label.result"],
        ),
        *quality_charts(log_metric_names),
    ]
    width = 6
    tiles = [
        {"xPos": (i % 2) * width, "yPos": (i // 2) * 4, "width": width, "height": 4, "widget": chart}
        for i, chart in enumerate(charts)
    ]
    return {
        "displayName": f"Bangla TTS ({cfg.name}, {cfg.stack})",
        "mosaicLayout": {"columns": 12, "tiles": tiles},
    }
