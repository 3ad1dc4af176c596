"""The voice-agent socket's protocol state (function.http.elevenlabs_ws) and live utterances
(function.service.live), with a stand-in service: contexts, order, barge-in, limits, and a fuzzed
message stream that never crashes and never leaves a synthesis open."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.http.elevenlabs import output_format
from function.http.elevenlabs_ws import AgentSocket, ProtocolError, SocketLimits, SocketOptions
from function.service import AudioChunk
from function.service.errors import InvalidInput, Overloaded
from function.service.live import LiveEvent, LiveSpeech
from function.service.speech import SpeechRequest
from function.voices import Owner
from tests.waiting import wait_until

RATE = 24000


@dataclass
class _Prepared:
    text: str


class FakeStream:
    """Like SpeechStream: `chunks` chunks of 0.1 s, a slot held until close()."""

    def __init__(self, service: FakeService, text: str, chunks: int) -> None:
        self.service = service
        self.prepared = _Prepared(text.strip())
        self.timer = None  # no word times: alignments are spread over each segment's audio
        self._left = chunks
        self._cancelled = threading.Event()
        self.closed = False

    def __iter__(self) -> Iterator[AudioChunk]:
        return self

    def __next__(self) -> AudioChunk:
        if self._left == 0 or self._cancelled.is_set():
            raise StopIteration
        self._left -= 1
        time.sleep(self.service.chunk_s)
        return AudioChunk(np.full(RATE // 10, 0.1, np.float32), RATE, 0)

    def cancel(self) -> None:
        self._cancelled.set()

    def decoded(self, timeout: float) -> bool:
        gate = self.service.decoded
        return gate is None or self._cancelled.is_set() or gate.wait(timeout)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with self.service.lock:
                self.service.open -= 1


class FakeService:
    def __init__(
        self,
        chunks: int = 2,
        chunk_s: float = 0.0,
        busy: bool = False,
        queue: threading.Event | None = None,
        decoded: threading.Event | None = None,
    ) -> None:
        self.queue = queue  # when given, stream() waits for it: a request queued for a slot
        self.decoded = decoded  # when given, a stream's codes are all made once it is set
        self.lock = threading.Lock()
        self.open = 0  # slots held
        self.started: list[str] = []
        self.chunks = chunks
        self.chunk_s = chunk_s
        self.busy = busy

    def stream(self, req: SpeechRequest, on_start: Callable[[Callable[[], None]], None] | None = None) -> Any:
        if self.queue is not None:
            self.queue.wait()
        if self.busy:
            raise Overloaded("all synthesis slots are busy", retry_after=1)
        if not any(ch.isalnum() for ch in req.text):
            raise InvalidInput("nothing to speak", code="empty_text")
        stream = FakeStream(self, req.text, self.chunks)
        with self.lock:
            self.open += 1
            self.started.append(req.text)
        if on_start is not None:
            on_start(stream.cancel)
        return stream


class Client:
    """What the socket sends, parsed; and the socket, with a fake service behind it."""

    def __init__(
        self, service: FakeService, *, multi: bool, max_contexts: int = 5, fmt: str = "pcm_24000"
    ) -> None:
        out = output_format(fmt)
        assert out is not None
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.service = service
        self.agent = AgentSocket(
            multi=multi,
            options=SocketOptions(out, "bn", 20.0, auto_mode=False, first_chunk=None),
            limits=SocketLimits(max_contexts=max_contexts, max_waiting_chars=500),
            send=self._send,
            start=self._start,
            authenticate=None,
        )

    def _send(self, text: str) -> None:
        with self.lock:
            self.messages.append(json.loads(text))

    def _start(
        self, params: dict[str, Any], cid: str, emit: Callable[[LiveEvent], None], dictionaries: tuple = ()
    ) -> LiveSpeech:
        template = SpeechRequest("", "bn", voice_id="v", params=params, owner=Owner("o"))
        return LiveSpeech(self.service, template, emit, name=cid)  # type: ignore[arg-type]

    def send(self, **message: Any) -> None:
        self.agent.handle(json.dumps(message))

    def finals(self) -> list[str | None]:
        with self.lock:
            return [m.get("contextId") for m in self.messages if m.get("isFinal") is True]

    def audio(self, cid: str | None = None) -> bytes:
        with self.lock:
            return b"".join(
                base64.b64decode(m["audio"])
                for m in self.messages
                if m.get("audio") and m.get("contextId") == cid
            )


def test_stream_input_speaks_each_sentence_then_ends_with_is_final() -> None:
    service = FakeService(chunks=3)
    client = Client(service, multi=False)
    for piece in [" ", "আমি ভা", "লো আছি", "। তুমি", " কেমন?", " "]:
        client.send(text=piece)
    client.send(text="")
    wait_until(lambda: client.agent.done, timeout=10, what="the input to be spoken and ended")
    assert service.started == [" আমি ভালো আছি। ", "তুমি কেমন? "]
    assert service.open == 0
    audio_msgs = [m for m in client.messages if m.get("audio")]
    assert all("contextId" not in m and m["isFinal"] is False for m in audio_msgs)
    assert len(client.audio()) == 2 * 3 * (RATE // 10) * 2  # pcm16 at 24 kHz: every chunk, in order
    aligned = [m for m in client.messages if m.get("alignment")]
    assert [("".join(a["alignment"]["chars"])) for a in aligned] == service.started
    for a in aligned:  # each segment's alignment spans exactly its audio (0.3 s)
        al = a["alignment"]
        assert al["charStartTimesMs"][-1] + al["charDurationsMs"][-1] == 300
        assert a["normalizedAlignment"]["chars"]
    assert client.messages[-1] == {"isFinal": True}


def test_close_context_speaks_what_was_sent_then_ends_as_pipecat_expects() -> None:
    """Pipecat ends each turn with flush, then close_context, and waits for the audio and isFinal."""
    service = FakeService(chunks=2, chunk_s=0.01)
    client = Client(service, multi=True)
    client.send(text=" ", context_id="turn")
    client.send(text="প্রথম কথা। আর শেষ কথা", context_id="turn")
    client.send(context_id="turn", flush=True)
    client.send(context_id="turn", close_context=True)
    client.send(text="আর কিছু না।", context_id="turn")  # after the close: not spoken
    wait_until(lambda: client.finals() == ["turn"], timeout=10, what="the turn's isFinal")
    assert service.started == [" প্রথম কথা। ", "আর শেষ কথা"]
    assert len(client.audio("turn")) == 2 * 2 * (RATE // 10) * 2  # both segments, whole
    assert client.messages[-1] == {"contextId": "turn", "isFinal": True}


def test_contexts_speak_independently_and_close_context_stops_one_at_once() -> None:
    service = FakeService(chunks=50, chunk_s=0.02)
    client = Client(service, multi=True)
    client.send(text=" ", context_id="a")
    client.send(text="অনেক লম্বা কথা। আরও কথা। ", context_id="a", flush=True)
    client.send(text="ছোট কথা।", context_id="b", flush=True)
    wait_until(lambda: client.audio("a") and client.audio("b"), timeout=10, what="audio from both contexts")
    t0 = time.perf_counter()
    client.send(context_id="a", close_context=True, immediate=True)  # barge-in
    stopped = time.perf_counter() - t0
    assert client.finals() == ["a"]
    assert stopped < 0.5  # the playing chunk ends; nothing more is made
    # a's slots (the segment playing, the one started ahead) are free; b's may still be held
    wait_until(lambda: service.open <= 1, timeout=5, what="context a's slots to be free")
    client.send(close_socket=True)
    assert sorted(f for f in client.finals() if f) == ["a", "b"]
    wait_until(lambda: service.open == 0, timeout=5, what="every slot to be free")
    assert client.agent.done


def test_the_next_segment_starts_once_the_one_before_it_is_decoded_while_it_is_heard() -> None:
    """One row per utterance in the batch (a second would slow the segment being heard, to make
    audio nobody hears yet), and the next segment's decoding still overlaps the current one's audio."""
    decoded = threading.Event()
    service = FakeService(chunks=100, chunk_s=0.01, decoded=decoded)
    client = Client(service, multi=False)
    client.send(text=" ")
    client.send(text="প্রথম কথা। দ্বিতীয় কথা। ")
    wait_until(client.audio, timeout=10, what="the first segment's audio")
    time.sleep(0.2)  # were it not waiting, the second segment would have started at once
    assert service.started == [" প্রথম কথা। "]
    decoded.set()
    wait_until(lambda: len(service.started) == 2, timeout=10, what="the second segment to start")
    assert len(client.audio()) < 100 * (RATE // 10) * 2  # while the first is still being heard
    client.send(text="")
    wait_until(lambda: client.agent.done, timeout=10, what="the input to be spoken and ended")
    assert len(client.audio()) == 2 * 100 * (RATE // 10) * 2
    assert service.open == 0


def test_barge_in_while_the_next_segment_waits_for_the_decoder_frees_every_slot() -> None:
    service = FakeService(chunks=100, chunk_s=0.01, decoded=threading.Event())
    client = Client(service, multi=True)
    client.send(text="প্রথম কথা। দ্বিতীয় কথা। ", context_id="a", flush=True)
    wait_until(lambda: client.audio("a"), timeout=10, what="the first segment's audio")
    client.send(context_id="a", close_context=True, immediate=True)
    assert client.finals() == ["a"]
    wait_until(lambda: service.open == 0, timeout=5, what="every slot to be free")
    assert service.started == ["প্রথম কথা। "]


def test_barge_in_does_not_wait_for_a_segment_queued_for_a_slot() -> None:
    """A segment waiting in the service's queue holds no slot: cancelling does not wait for it, and
    the slot it gets later is given back at once."""
    queued = threading.Event()
    service = FakeService(queue=queued)
    client = Client(service, multi=True)
    client.send(text="প্রথম কথা। ", context_id="a")
    time.sleep(0.05)  # the starter is now waiting for a slot
    t0 = time.perf_counter()
    client.send(context_id="a", close_context=True, immediate=True)
    assert time.perf_counter() - t0 < 0.5
    assert client.finals() == ["a"]
    queued.set()  # the slot comes: taken and given back
    wait_until(lambda: service.started and service.open == 0, timeout=5, what="the late slot to be freed")


def test_limits_and_bad_messages_are_protocol_errors_with_close_codes() -> None:
    client = Client(FakeService(), multi=True, max_contexts=2)
    with pytest.raises(ProtocolError) as bad_json:
        client.agent.handle("{not json")
    assert bad_json.value.close_code == 1007
    with pytest.raises(ProtocolError) as bad_field:
        client.send(text=5)
    assert bad_field.value.close_code == 1007 and "text" in bad_field.value.message
    client.send(text=" ", context_id="a")
    client.send(text=" ", context_id="b")
    with pytest.raises(ProtocolError) as too_many:
        client.send(text=" ", context_id="c")
    assert too_many.value.close_code == 1008 and too_many.value.error == "too_many_contexts"
    with pytest.raises(ProtocolError) as full:
        client.send(text="ক" * 501, context_id="a")  # nothing flushed: 501 characters wait
    assert full.value.error == "buffer_full"
    with pytest.raises(ProtocolError) as schedule:
        Client(FakeService(), multi=False).send(text=" ", generation_config={"chunk_length_schedule": [5]})
    assert schedule.value.close_code == 1007
    client.agent.close_all()


def test_a_busy_service_ends_the_context_with_an_error_and_is_final() -> None:
    client = Client(FakeService(busy=True), multi=True)
    client.send(text="কথা। ", context_id="a")
    wait_until(lambda: client.finals() == ["a"], timeout=5, what="the context to end")
    error = next(m for m in client.messages if "error" in m)
    assert error == {
        "message": "all synthesis slots are busy",
        "error": "overloaded",
        "code": 1013,
        "contextId": "a",
    }


_MESSAGES = st.one_of(
    st.builds(
        dict,
        text=st.sampled_from([" ", "", "আমি ", "ভালো।", " কেমন? ", "১২.৫ ", "!", "ডা. "]),
        context_id=st.sampled_from(["a", "b", "c"]),
        flush=st.booleans(),
    ),
    st.builds(
        dict, context_id=st.sampled_from(["a", "b"]), close_context=st.just(True), immediate=st.booleans()
    ),
    st.just({"text": ""}),
    st.just({"close_socket": True}),
    st.just({"text": 3}),
    st.just({"voice_settings": {"speed": 9}}),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(_MESSAGES, max_size=25), multi=st.booleans())
def test_any_message_stream_ends_with_every_synthesis_closed(
    messages: list[dict[str, Any]], multi: bool
) -> None:
    service = FakeService(chunks=2)
    client = Client(service, multi=multi, max_contexts=2)
    for message in messages:
        if client.agent.done:
            break
        try:
            client.send(**message)
        except ProtocolError as exc:
            assert exc.close_code in (1007, 1008)
            break
    client.agent.close_all()  # what the route does when the socket ends, however it ends
    wait_until(lambda: service.open == 0, timeout=10, what="every slot to be free")
    assert client.agent.live_contexts == 0
    # Every context that spoke was ended, its isFinal after all of its audio.
    last: dict[str | None, dict[str, Any]] = {}
    for m in client.messages:
        last[m.get("contextId")] = m
    assert all(m.get("isFinal") is True for m in last.values())
