"""GET /: a page to try the service in a browser (one HTML file and one script, served by the app)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

from function.http.context import serving

bp = Blueprint("page", __name__)
STATIC = Path(__file__).parent / "static"
PAGE_PATHS = {"/", "/static/app.js"}
# Only this origin's script and API; no inline script; audio from the page's own Web Audio graph.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _file(name: str, mimetype: str, body: bytes | None = None) -> Response:
    response = Response((STATIC / name).read_bytes() if body is None else body, mimetype=mimetype)
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def page() -> Response:
    # The key field shows only when the server wants a key (and nothing is fetched before one is given).
    auth = "required" if serving().settings.api_keys else "none"
    html = (STATIC / "index.html").read_text(encoding="utf-8").replace("__AUTH__", auth)
    return _file("index.html", "text/html", html.encode("utf-8"))


@bp.get("/static/app.js")
def script() -> Response:
    return _file("app.js", "text/javascript")
