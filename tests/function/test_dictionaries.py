"""Pronunciation dictionaries through the service, on a directory store: versions that never
change once written, owners that never see each other's, racing writers that lose nothing, and
requests read with the dictionaries they name (reported in what the engine was given)."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.config import load_settings
from function.http.app import create_app
from function.service.errors import DictionaryNotFound, InvalidInput
from function.service.model import Loaded
from function.service.pronunciation import Locator
from function.service.speech import SpeechRequest
from function.storage import LocalStore
from function.text.pronunciation import rules_from_pls
from function.text.user_lexicon import UserLexicon
from function.voices import EVERYONE, Owner
from function.voices.dictionaries import DictionaryStore
from tests.function.fakes import FakeEngine, make_service

ALICE, BOB = Owner("key_alice"), Owner("key_bob")


@pytest.fixture
def stored(loaded: Loaded, tmp_path: Path) -> Loaded:
    loaded.dictionaries = DictionaryStore(LocalStore(tmp_path / "dictionaries"))
    return loaded


def rule(key: str, alias: str) -> dict[str, str]:
    return {"string_to_replace": key, "type": "alias", "alias": alias}


def test_each_change_is_a_new_version_and_a_pinned_version_never_changes(stored: Loaded) -> None:
    dictionaries = make_service(stored).pronunciation
    made = dictionaries.create_from_rules(ALICE, "newsroom", "names", [rule("BTRC", "বিটিআরসি")])
    assert (made.version_id, len(made.rules), made.name) == ("v1", 1, "newsroom")
    added = dictionaries.add_rules(
        ALICE, made.dictionary_id, [rule("Zorp", "জর্প"), rule("BTRC", "বিটিআরসি কমিশন")]
    )
    assert added.version_id == "v2" and {r["alias"] for r in added.rules} == {"জর্প", "বিটিআরসি কমিশন"}
    removed = dictionaries.remove_rules(ALICE, made.dictionary_id, ["Zorp"])
    assert removed.version_id == "v3" and [r["string_to_replace"] for r in removed.rules] == ["BTRC"]
    version, pls = dictionaries.download(ALICE, made.dictionary_id, "v1")
    assert version == "v1" and [r.alias for r in rules_from_pls(pls)] == ["বিটিআরসি"]
    assert dictionaries.download(ALICE, made.dictionary_id, None)[0] == "v3"
    assert [d.dictionary_id for d in dictionaries.list(ALICE)] == [made.dictionary_id]
    with pytest.raises(DictionaryNotFound):
        dictionaries.download(ALICE, made.dictionary_id, "v9")
    # A refused change writes no version.
    with pytest.raises(InvalidInput) as refused:
        dictionaries.add_rules(ALICE, made.dictionary_id, [rule("UN", "৫")])
    assert (
        refused.value.code == "invalid_dictionary"
        and dictionaries.info(ALICE, made.dictionary_id).version_id == "v3"
    )


def test_another_owners_dictionary_is_not_found_whatever_it_is_asked(
    stored: Loaded, engine: FakeEngine
) -> None:
    service = make_service(stored)
    made = service.pronunciation.create_from_rules(ALICE, "mine", None, [rule("Zorp", "জর্প")])
    for call in (
        lambda: service.pronunciation.info(BOB, made.dictionary_id),
        lambda: service.pronunciation.add_rules(BOB, made.dictionary_id, [rule("a", "ক")]),
        lambda: service.pronunciation.download(BOB, made.dictionary_id, "v1"),
        lambda: service.pronunciation.delete(BOB, made.dictionary_id),
        lambda: service.pronunciation.reading(BOB, [Locator(made.dictionary_id)]),
    ):
        with pytest.raises(DictionaryNotFound):
            call()
    assert service.pronunciation.list(BOB) == []
    assert service.pronunciation.info(ALICE, made.dictionary_id).version_id == "v1"


def test_writers_racing_for_the_next_version_lose_nothing(stored: Loaded) -> None:
    dictionaries = make_service(stored).pronunciation
    made = dictionaries.create_from_rules(ALICE, "race", None, [rule("a", "ক")])
    keys = [f"word{chr(97 + i)}" for i in range(8)]
    threads = [
        threading.Thread(target=dictionaries.add_rules, args=(ALICE, made.dictionary_id, [rule(k, "শব্দ")]))
        for k in keys
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = dictionaries.info(ALICE, made.dictionary_id)
    assert final.version_id == "v9" and {r["string_to_replace"] for r in final.rules} == {"a", *keys}


def test_a_deleted_dictionary_is_gone_even_where_its_versions_were_cached(stored: Loaded) -> None:
    dictionaries = make_service(stored).pronunciation
    made = dictionaries.create_from_rules(ALICE, "gone", None, [rule("Zorp", "জর্প")])
    dictionaries.reading(ALICE, [Locator(made.dictionary_id, "v1")])  # cached on this instance
    dictionaries.delete(ALICE, made.dictionary_id)
    with pytest.raises(DictionaryNotFound):
        dictionaries.reading(ALICE, [Locator(made.dictionary_id, "v1")])
    assert dictionaries.list(ALICE) == []


def test_a_request_is_read_with_its_dictionaries_in_order_and_says_which_rules_applied(
    stored: Loaded, engine: FakeEngine
) -> None:
    stored.lexicon = UserLexicon.from_bytes("Karim\tকরিম\n".encode(), "TTS_LEXICON_PATH")
    service = make_service(stored)
    vid = stored.voices.add(
        engine.make_voice(None, 0), name="v", reference_seconds=3.0, owner=ALICE.id
    ).voice_id
    names = service.pronunciation.create_from_rules(ALICE, "names", None, [rule("Rahim", "রহিম")])
    other = service.pronunciation.create_from_rules(
        ALICE, "other", None, [rule("Rahim", "রাহিম"), rule("Zorp", "জর্প")]
    )
    service.pronunciation.add_rules(ALICE, names.dictionary_id, [rule("Rahim", "রহীম")])  # v2

    def speak(*locators: Locator) -> tuple[str, list[dict]]:
        req = SpeechRequest("Rahim, Zorp ও Karim।", "bn", voice_id=vid, owner=ALICE, dictionaries=locators)
        prepared = service.synthesize(req).prepared
        return prepared.text, prepared.pronunciation

    text, applied = speak(Locator(names.dictionary_id, "v1"), Locator(other.dictionary_id))
    assert text == "রহিম, জর্প ও করিম।" and engine.texts[-1] == text
    assert applied == [
        {
            "string_to_replace": "rahim",
            "alias": "রহিম",
            "dictionary_id": names.dictionary_id,
            "version_id": "v1",
        },
        {
            "string_to_replace": "zorp",
            "alias": "জর্প",
            "dictionary_id": other.dictionary_id,
            "version_id": "v1",
        },
        {
            "string_to_replace": "karim",
            "alias": "করিম",
            "dictionary_id": "TTS_LEXICON_PATH",
            "version_id": None,
        },
    ]
    assert speak(Locator(names.dictionary_id))[0].startswith("রহীম")  # the latest version
    assert speak(Locator(other.dictionary_id), Locator(names.dictionary_id))[0].startswith("রাহিম")
    with pytest.raises(InvalidInput, match="at most 3"):
        speak(*[Locator(names.dictionary_id)] * 4)
    with pytest.raises(DictionaryNotFound):
        speak(Locator("pd_00000000000000000000"))


def test_the_batch_job_and_admin_keys_may_name_anyones_dictionary(stored: Loaded) -> None:
    dictionaries = make_service(stored).pronunciation
    made = dictionaries.create_from_rules(ALICE, "names", None, [rule("Zorp", "জর্প")])
    lexicon = dictionaries.reading(EVERYONE, [Locator(made.dictionary_id, "v1")]).lexicon
    assert lexicon is not None and lexicon.words.get("zorp") == "জর্প"
    assert dictionaries.info(Owner("key_admin", admin=True), made.dictionary_id).name == "names"


def test_a_voice_reads_with_its_default_dictionaries_after_the_requests_own(
    stored: Loaded, engine: FakeEngine
) -> None:
    service = make_service(stored)
    names = service.pronunciation.create_from_rules(
        ALICE, "names", None, [rule("Rahim", "রহিম"), rule("Zorp", "জর্প")]
    )
    other = service.pronunciation.create_from_rules(ALICE, "other", None, [rule("Rahim", "রাহিম")])
    info = stored.voices.add(engine.make_voice(None, 0), name="anchor", reference_seconds=3.0, owner=ALICE.id)
    service.set_voice_dictionaries(info.voice_id, ALICE, (Locator(names.dictionary_id, "v1"),))

    def speak(*locators: Locator) -> str:
        req = SpeechRequest("Rahim ও Zorp।", "bn", voice_id=info.voice_id, owner=ALICE, dictionaries=locators)
        return service.synthesize(req).prepared.text

    assert speak() == "রহিম ও জর্প।"  # the voice's defaults
    assert speak(Locator(other.dictionary_id)) == "রাহিম ও জর্প।"  # the request's first, then the voice's
    service.set_voice_dictionaries(info.voice_id, ALICE, ())  # seen at once: the metadata is read per use
    assert "জর্প" not in speak()  # the front-end's own reading of "Zorp" again
    bobs = service.pronunciation.create_from_rules(BOB, "bob's", None, [rule("Zorp", "জোর্প")])
    with pytest.raises(DictionaryNotFound):  # a voice may only name its owner's dictionaries
        service.set_voice_dictionaries(info.voice_id, ALICE, (Locator(bobs.dictionary_id),))
    with pytest.raises(InvalidInput, match="each once"):
        service.set_voice_dictionaries(info.voice_id, ALICE, (Locator(names.dictionary_id),) * 2)


# ---- hostile SSML and PLS through the HTTP adapter: a clear 4xx, never a 5xx ---------------------------
@pytest.fixture
def client(stored: Loaded) -> Any:
    settings = load_settings({"TTS_MODEL_PATH": "/unused", "TTS_MAX_CONCURRENT_REQUESTS": "2"})
    app = create_app(settings, load=False)
    app.extensions["tts"].model.loaded = stored
    app.extensions["tts"].model.status = "ready"
    return app.test_client()


_MARKUP = st.lists(
    st.sampled_from(
        [
            "<speak>", "</speak>", "<s>", "</s>", '<break time="1s"/>', '<break time="11s"/>',
            "<break strength='x'/>", '<say-as interpret-as="date">', "</say-as>", '<sub alias="ক">',
            "</sub>", '<prosody rate="9">', "</prosody>", '<lang xml:lang="en">', "</lang>", "<phoneme>",
            "&amp;", "&lol;", "<!DOCTYPE x [<!ENTITY lol 'x'>]>", "<?xml version='1.0' encoding='utf-16'?>",
            "১২/১২/২০২৪", "আমি", " ", "<", ">", "\x00", "\ud800",
        ]
    ),
    max_size=12,
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=_MARKUP)
def test_fuzzed_ssml_is_read_or_refused_with_a_4xx(client: Any, pieces: list[str]) -> None:
    text = "".join(pieces) or "x"
    r = client.post("/normalize", data=json.dumps({"text": text}), content_type="application/json")
    assert r.status_code in (200, 400), r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=200), _MARKUP.map(lambda p: "".join(p).encode("utf-8", "surrogatepass"))
    )
)
def test_fuzzed_pls_files_are_a_dictionary_or_a_4xx(client: Any, data: bytes) -> None:
    r = client.post(
        "/v1/pronunciation-dictionaries/add-from-file",
        data={"name": "fuzz", "file": (io.BytesIO(b"<lexicon>" + data + b"</lexicon>"), "f.pls")},
        content_type="multipart/form-data",
    )
    assert r.status_code in (201, 400), r.get_data(as_text=True)
