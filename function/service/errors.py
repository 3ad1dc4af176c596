"""Domain errors of the speech service. Each says what was wrong and how to fix it; the HTTP layer
maps each class to a status in one table (function.http.errors) and never sees engine internals."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: `code` is the stable machine-readable name, the message is for people."""

    code = "service_error"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.retry_after = retry_after


class InvalidInput(ServiceError):  # noqa: N818  (named for what the caller did, like the others)
    """The request cannot be served as sent (text, language, reference clip, parameters)."""

    code = "invalid_request"


class VoiceNotFound(ServiceError):  # noqa: N818
    code = "voice_not_found"


class DictionaryNotFound(ServiceError):  # noqa: N818
    code = "dictionary_not_found"


class VoiceUnusable(ServiceError):  # noqa: N818
    """The stored voice exists but this model cannot use it (damaged, or made by another model)."""

    code = "voice_unusable"


class VoiceNameTaken(ServiceError):  # noqa: N818
    """Another voice already has the name asked for."""

    code = "voice_name_taken"


class Overloaded(ServiceError):  # noqa: N818
    """Every synthesis slot is busy and the wait queue is full."""

    code = "overloaded"


class ModelLoading(ServiceError):  # noqa: N818
    code = "model_loading"


class StoreUnavailable(ServiceError):  # noqa: N818
    """The voice store (bucket or directory) cannot be reached right now."""

    code = "storage_unavailable"


class Unavailable(ServiceError):  # noqa: N818
    """This process cannot synthesize right now (shutting down, or its decode thread failed)."""

    code = "service_unavailable"
