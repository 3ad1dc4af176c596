"""Configuration: every environment variable is read and validated here, once, at start.

A bad value raises ConfigError naming the variable, so the start stops with one clear line instead
of a half-configured server. Nothing else in function/ reads os.environ. `values` parses one
variable, `serving` builds the server's Settings, `batch` the batch job's.
"""

from function.config.batch import (
    EVENT_BATCH_FIELDS,
    BatchSettings,
    load_batch_settings,
    load_event_batch_settings,
)
from function.config.serving import (
    DEFAULT_PREFIX_CACHE_VOICES,
    LOG_LEVELS,
    Settings,
    load_settings,
)
from function.config.values import ConfigError
from function.synthesis_params import SAMPLING_RANGES

__all__ = [
    "DEFAULT_PREFIX_CACHE_VOICES",
    "EVENT_BATCH_FIELDS",
    "LOG_LEVELS",
    "SAMPLING_RANGES",
    "BatchSettings",
    "ConfigError",
    "Settings",
    "load_batch_settings",
    "load_event_batch_settings",
    "load_settings",
]
