"""GET /health (the startup probe's target) and GET /openapi.json."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from function.http.auth import authorized
from function.http.context import reply, serving
from function.http.openapi import build_openapi
from function.http.responses import Health, Loading, ModelName
from function.http.routes_elevenlabs_ws import LIVE

bp = Blueprint("meta", __name__)


@bp.get("/health")
def health() -> Response:
    """Ready or not for anyone (probes, the load balancer); with API keys set, the model, provider
    and queue figures only for a caller with a key (they tell an attacker what to aim at)."""
    srv = serving()
    state = srv.model
    loaded = state.loaded
    detailed = authorized(
        request.headers.get("Authorization"), srv.settings.api_keys, request.headers.get("xi-api-key")
    )
    if loaded is None:
        waiting = Loading(status="failed" if state.status == "failed" else "loading")
        if detailed:
            waiting.uptime_s = round(state.uptime_s, 3)
        response = reply(waiting, 503)
        response.headers["Retry-After"] = "5"
        return response
    failure = state.failure()
    if failure is not None:  # the watchdog is stopping this process (function.service.model)
        failed = Loading(status="failed")
        if detailed:
            failed.reason = failure
        return reply(failed, 503)
    if not detailed:
        return reply(Health(status="ok"))
    return reply(
        Health(
            status="ok",
            model=ModelName(name=loaded.model_name, version=loaded.model_version),
            variant=loaded.manifest.get("variant"),
            languages=loaded.languages,
            uptime_s=round(state.uptime_s, 3),
            in_flight=srv.service.limiter.running,
            queued=srv.service.limiter.waiting,
            live=LIVE.snapshot(),
            **loaded.runtime(),  # provider, sample_rate, decode_batch, prefix_cache
        )
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    srv = serving()
    loaded = srv.model.loaded
    return jsonify(build_openapi(srv.settings, loaded.languages if loaded else None))
