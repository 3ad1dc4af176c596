"""Pronunciation dictionaries: ElevenLabs' routes under /v1/pronunciation-dictionaries, the same under
/pronunciation-dictionaries, so its SDK's `pronunciation_dictionaries` calls work unchanged. Each
dictionary is its owner's (the API key's): another key's id answers 404, as a missing one does."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from function.http.context import json_body, reply, request_owner, service
from function.http.dictionaries import AddFromRules, Rules, RuleStrings, Update
from function.http.errors import ApiError
from function.http.requests import bad
from function.http.responses import (
    DictionaryCreated,
    DictionaryList,
    DictionaryMetadata,
    DictionaryRule,
    DictionaryRulesChanged,
    DictionaryWithRules,
)
from function.service.pronunciation import PronunciationService
from function.text.pronunciation import MAX_PLS_BYTES
from function.voices.dictionaries import DictionaryInfo

bp = Blueprint("dictionaries", __name__)
PREFIXES = ("/v1/pronunciation-dictionaries", "/pronunciation-dictionaries")


def _service() -> PronunciationService:
    service().loaded()  # 503 while loading
    return service().pronunciation


def _metadata(info: DictionaryInfo, model: type[DictionaryMetadata] = DictionaryMetadata) -> Any:
    fields: dict[str, Any] = {
        "id": info.dictionary_id,
        "latest_version_id": info.version_id,
        "latest_version_rules_num": len(info.rules),
        "name": info.name,
        "created_by": info.owner,
        "creation_time_unix": int(info.created_at),
        "description": info.description,
    }
    if model is DictionaryWithRules:
        fields["rules"] = [DictionaryRule.model_validate(r) for r in info.rules]
    return model(**fields)


def _changed(info: DictionaryInfo) -> Response:
    return reply(
        DictionaryRulesChanged(
            id=info.dictionary_id, version_id=info.version_id, version_rules_num=len(info.rules)
        )
    )


def _created(info: DictionaryInfo) -> Response:
    body = DictionaryCreated(
        id=info.dictionary_id,
        name=info.name,
        created_by=info.owner,
        creation_time_unix=int(info.created_at),
        version_id=info.version_id,
        version_rules_num=len(info.rules),
        description=info.description,
    )
    response = reply(body, 201)
    response.headers["Location"] = f"{PREFIXES[0]}/{info.dictionary_id}"
    return response


def add_from_file() -> Response:
    """multipart/form-data: `name`, `file` (a W3C PLS lexicon of alias lexemes), `description`."""
    pronunciation = _service()
    if request.mimetype != "multipart/form-data":
        raise ApiError(
            415, "unsupported_media_type", "send multipart/form-data with 'name' and 'file' (a PLS file)"
        )
    upload = request.files.get("file")
    if upload is None:
        raise bad("missing_file", "upload the PLS file in a multipart field named 'file'")
    data = upload.read(MAX_PLS_BYTES + 1)
    name = request.form.get("name") or upload.filename or ""
    return _created(
        pronunciation.create_from_pls(request_owner(), name, request.form.get("description"), data)
    )


def add_from_rules() -> Response:
    body = json_body(AddFromRules)
    return _created(_service().create_from_rules(request_owner(), body.name, body.description, body.rules))


def list_dictionaries() -> Response:
    found = _service().list(request_owner())
    return reply(DictionaryList(pronunciation_dictionaries=[_metadata(d) for d in found]))


def get_dictionary(dictionary_id: str) -> Response:
    return reply(_metadata(_service().info(request_owner(), dictionary_id), DictionaryWithRules))


def update_dictionary(dictionary_id: str) -> Response:
    """ElevenLabs' PATCH: a new `name`; `archived: true` deletes the dictionary here (nothing is
    kept archived)."""
    body = json_body(Update)
    pronunciation = _service()
    owner = request_owner()
    info = pronunciation.info(owner, dictionary_id)
    if body.name is not None:
        info = pronunciation.rename(owner, dictionary_id, body.name)
    if body.archived:
        pronunciation.delete(owner, dictionary_id)
    return reply(_metadata(info))


def delete_dictionary(dictionary_id: str) -> tuple[str, int]:
    _service().delete(request_owner(), dictionary_id)
    return "", 204


def add_rules(dictionary_id: str) -> Response:
    return _changed(_service().add_rules(request_owner(), dictionary_id, json_body(Rules).rules))


def set_rules(dictionary_id: str) -> Response:
    return _changed(_service().set_rules(request_owner(), dictionary_id, json_body(Rules).rules))


def remove_rules(dictionary_id: str) -> Response:
    return _changed(
        _service().remove_rules(request_owner(), dictionary_id, json_body(RuleStrings).rule_strings)
    )


def download(dictionary_id: str, version_id: str) -> Response:
    version, pls = _service().download(request_owner(), dictionary_id, version_id)
    response = Response(pls, mimetype="application/pls+xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{dictionary_id}-{version}.pls"'
    return response


ROUTES = (
    ("/add-from-file", "POST", add_from_file),
    ("/add-from-rules", "POST", add_from_rules),
    ("", "GET", list_dictionaries),
    ("/<dictionary_id>", "GET", get_dictionary),
    ("/<dictionary_id>", "PATCH", update_dictionary),
    ("/<dictionary_id>", "DELETE", delete_dictionary),
    ("/<dictionary_id>/add-rules", "POST", add_rules),
    ("/<dictionary_id>/set-rules", "POST", set_rules),
    ("/<dictionary_id>/remove-rules", "POST", remove_rules),
    ("/<dictionary_id>/<version_id>/download", "GET", download),  # ElevenLabs' SDK
    ("/<dictionary_id>/download/<version_id>", "GET", download),
)
for _prefix in PREFIXES:
    for _path, _method, _view in ROUTES:
        bp.add_url_rule(_prefix + _path, f"{_view.__name__}{_prefix}", _view, methods=[_method])
