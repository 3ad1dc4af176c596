"""Methods whose routes here take no request body: the worker does not wait for one, the app does
not read one (function.server_worker imports this in gunicorn's master: keep it import-free)."""

BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})
