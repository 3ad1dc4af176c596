"""gunicorn's entry point (`wsgi_app` in gunicorn.conf.py): one app, one model, per worker process."""

from __future__ import annotations

import logging
import os

from function.config import load_settings
from function.http.app import create_app
from function.jsonlog import configure_logging

# gunicorn's arbiter stops the whole server when a worker exits with this code ("failed to boot"),
# so a model that cannot be loaded ends the start instead of a worker restart loop.
WORKER_BOOT_ERROR = 3


def _stop_start() -> None:
    logging.shutdown()
    os._exit(WORKER_BOOT_ERROR)


settings = load_settings()
configure_logging(settings.log_level)
app = create_app(settings, on_fatal=_stop_start)
