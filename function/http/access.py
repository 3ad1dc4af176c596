"""Our access log (gunicorn's is off): one JSON line per request, with speech metrics, never content."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Response, current_app, g, request

from function.jsonlog import request_id_var, trace_var

log = logging.getLogger("function.access")


def client_ip(forwarded_for: str | None, peer: str | None, hops: int) -> str:
    """The client's address: the entry the `hops`-th proxy from us appended to X-Forwarded-For
    (entries further left are the client's own claims, so forgeable), else the socket's peer.

    Google's external Application Load Balancer sends `<supplied>,<client-ip>,<lb-ip>`
    (https://cloud.google.com/load-balancing/docs/https#x-forwarded-for_header): hops=2.
    """
    entries = [e.strip() for e in (forwarded_for or "").split(",") if e.strip()]
    if hops and entries:
        # Fewer entries than proxies: the request skipped one; the oldest entry is the best guess.
        return entries[-hops] if len(entries) >= hops else entries[0]
    return peer or ""


def snapshot() -> dict[str, Any]:
    """What the access line needs from the request, captured while the request context exists."""
    return {
        "method": request.method,
        "path": request.path,
        "user_agent": request.user_agent.string,
        "remote_ip": client_ip(
            request.headers.get("X-Forwarded-For"),
            request.remote_addr,
            current_app.config["FORWARDED_FOR_HOPS"],
        ),
        "start": g.get("start", time.perf_counter()),
        "request_id": request_id_var.get(),
        "trace": trace_var.get(),
        "metrics": dict(g.get("metrics", {})),
    }


def write(snap: dict[str, Any], status: int, size: int | None, **metrics: Any) -> None:
    latency = time.perf_counter() - snap["start"]
    fields: dict[str, Any] = {**snap["metrics"], **metrics}
    audio_s = fields.get("audio_seconds")
    if audio_s:
        fields["rtf"] = round(latency / audio_s, 4)  # request time / audio time: < 1 is faster than real time
    # 503 while loading and 429 under load are expected back-pressure, not server faults.
    level = logging.WARNING if status in (429, 503) else logging.ERROR if status >= 500 else logging.INFO
    if snap["path"] == "/health":
        level = logging.DEBUG  # probes every few seconds: visible with TTS_LOG_LEVEL=DEBUG only
    log.log(
        level,
        "%s %s %d %.0f ms",
        snap["method"],
        snap["path"],
        status,
        latency * 1000,
        extra={
            "httpRequest": {
                "requestMethod": snap["method"],
                "requestUrl": snap["path"],
                "status": status,
                "responseSize": str(size) if size is not None else None,
                "userAgent": snap["user_agent"],
                "remoteIp": snap["remote_ip"],
                "latency": f"{latency:.6f}s",
            },
            "request_id": snap["request_id"],
            "trace": snap["trace"],
            "latency_ms": round(latency * 1000, 1),
            **fields,
        },
    )


def metric(**values: Any) -> None:
    """Record speech metrics (text_chars, audio_seconds, ttfc_ms, ...) for this request's access line."""
    g.setdefault("metrics", {}).update(values)


def after(response: Response) -> None:
    if g.get("deferred_access_log"):
        return  # a stream logs when it ends
    write(snapshot(), response.status_code, response.calculate_content_length())
