"""The try-it page in a real headless Chromium (Debian's, driven by Playwright): it loads without a
console error, saves a voice from an uploaded file, and plays a synthesis whose first samples reach
the page while the stream is still running. A screenshot is left in the test's output."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

KEY = "page-key-0123456789abcdef"
TEXT = (
    "আমাদের গ্রামের নাম সোনাপুর, সেখানে একটি ছোট নদী আছে। সকালবেলা মানুষ মাঠে কাজ করতে যায়। "
    "বিকেলে ছেলেমেয়েরা নদীর ধারে খেলা করে, আর সন্ধ্যায় সবাই একসাথে গল্প করে।"
)


def wait_for(page: Any, expression: str, timeout: float = 60) -> None:
    """Poll an expression (wait_for_function compiles strings with eval, which the page's CSP forbids)."""
    try:
        wait_until(lambda: page.evaluate(expression), timeout=timeout, what=expression, interval=0.05)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {page.inner_text('#status')}") from None


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., Any], demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    tmp = tmp_path_factory.mktemp("page")
    srv = start_server(
        {
            "TTS_MODEL_PATH": str(demo_bundle),
            "TTS_CACHE_DIR": str(tmp / "cache"),
            "TTS_VOICES_PATH": str(tmp / "voices"),
            "TTS_API_KEYS": KEY,
            "TTS_WORKERS": "1",
        }
    )
    srv.wait_ready()
    return srv


def pick_a_dictionary_and_preview(page: Any, server: Any) -> None:
    """A pronunciation dictionary made over the API is offered on the page, and the page shows what
    the model will read with it."""
    made = requests.post(
        server.url + "/v1/pronunciation-dictionaries/add-from-rules",
        json={"name": "গ্রাম", "rules": [{"string_to_replace": "সোনাপুর", "type": "alias", "alias": "শোনাপুর"}]},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    page.click("#refresh")
    wait_for(page, "document.getElementById('dictionary').options.length > 1")
    page.select_option("#dictionary", made.json()["id"])
    page.click("#preview")
    wait_for(page, "document.getElementById('normalized').textContent.includes('শোনাপুর')")
    assert "সোনাপুর → শোনাপুর" in page.inner_text("#normalized")


def test_the_page_saves_a_voice_and_streams_speech(
    server: Any, tmp_path: Path, make_clip: Callable[..., bytes]
) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: `make env` installs it"
    clip = tmp_path / "anchor.wav"
    clip.write_bytes(make_clip(4.0))
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        page = browser.new_page(viewport={"width": 900, "height": 1100})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        # Served by the app itself, public: the key is asked for on the page.
        page.goto(server.url + "/")
        assert page.title().startswith("Bangla voice cloning")
        page.fill("#key", KEY)
        page.press("#key", "Tab")  # 'change': the page stores the key and lists the voices
        page.set_input_files("#clip", str(clip))
        page.fill("#name", "মিতা")
        page.click("#save")
        wait_for(page, "document.getElementById('status').textContent.startsWith('Saved')")
        assert page.input_value("#voices").startswith("voice_")
        assert "মিতা" in page.inner_text("#voices")

        page.fill("#text", TEXT)
        pick_a_dictionary_and_preview(page, server)
        page.click("#speak")
        wait_for(page, "window.__tts.doneAt !== null || window.__tts.error !== null", timeout=240)
        # A saved voice streams with word times: every word lights up once it has been heard.
        wait_for(page, "window.__tts.words > 0 && window.__tts.wordsHeard === window.__tts.words", timeout=60)
        state = page.evaluate("window.__tts")
        shown = page.inner_text("#words")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)

        # Live mode: what is typed streams over the WebSocket (the key in its first message) and
        # each sentence is heard once it ends, while typing goes on.
        page.fill("#text", "")
        page.check("#live")
        wait_for(page, "document.getElementById('status').textContent.startsWith('Live')")
        page.type("#text", "আমি ভালো আছি। তুমি কেমন", delay=15)
        wait_for(page, "window.__tts.firstSamplesAt !== null", timeout=120)
        live = page.evaluate("window.__tts")
        page.uncheck("#live")  # the rest ("তুমি কেমন") is spoken, then the server closes the socket
        wait_for(page, f"window.__tts.samples > {live['samples']}", timeout=120)
        browser.close()

    assert state["error"] is None, state
    assert len(shown.split()) == state["words"] and "শোনাপুর" in shown  # what was read, dictionary applied
    assert state["sampleRate"] == 24000 and state["samples"] > 24000 and state["chunks"] > 2
    # Audio was in the page while the stream still ran: the first samples well before the end.
    first = state["firstSamplesAt"] - state["startedAt"]
    total = state["doneAt"] - state["startedAt"]
    assert first < 0.6 * total, (first, total)
    assert live["error"] is None and live["samples"] > 0, live
    assert problems == []
    shot = (tmp_path / "page.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
    print(f"screenshot: {tmp_path / 'page.png'}")


def test_the_page_is_public_and_locked_down(server: Any) -> None:
    for path, kind in (("/", "text/html"), ("/static/app.js", "text/javascript")):
        r = requests.get(server.url + path, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(kind)
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert "http://" not in r.text.replace(server.url, "") and "https://" not in r.text  # no CDN
    assert requests.get(server.url + "/voices", timeout=10).status_code == 401  # the API still needs a key
