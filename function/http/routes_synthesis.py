"""POST /synthesize (whole file) and POST /synthesize/stream (chunked WAV as it is generated)."""

from __future__ import annotations

import base64
import time

from flask import Blueprint, Response, g, jsonify, request

from function.audio import encode_audio, pcm16_bytes, wav_stream_header
from function.http import access, synthesis
from function.http.context import SHUTTING_DOWN, acquire_slot, ready, require_json, serving, slot
from function.http.errors import ApiError
from function.http.model import Loaded
from function.http.requests import SynthesisRequest, parse_json_object, parse_synthesis
from function.http.streaming import StreamBody

bp = Blueprint("synthesis", __name__)


def _parse(formats: tuple[str, ...]) -> SynthesisRequest:
    require_json()
    loaded = ready()
    req = parse_synthesis(
        parse_json_object(request.get_data()),
        languages=loaded.languages,
        max_text_chars=serving().settings.max_text_chars,
        formats=formats,
    )
    access.metric(
        text_chars=len(req.text), language=req.language, voice_source="id" if req.voice_id else "clip"
    )
    return req


def _prepare(loaded: Loaded, req: SynthesisRequest) -> synthesis.Job:
    return synthesis.prepare(
        loaded,
        text=req.text,
        language=req.language,
        voice_id=req.voice_id,
        speaker_wav=req.speaker_wav,
        params=req.params,
    )


@bp.post("/synthesize")
def synthesize() -> Response:
    t0 = time.perf_counter()
    req = _parse(("wav", "json"))
    loaded = ready()
    with slot():
        job = _prepare(loaded, req)
        t1 = time.perf_counter()
        audio = synthesis.synthesize(loaded, job)
        t2 = time.perf_counter()
    wav = encode_audio(audio, loaded.engine.sample_rate, "wav")
    t3 = time.perf_counter()
    seconds = audio.shape[0] / loaded.engine.sample_rate
    access.metric(audio_seconds=round(seconds, 3), synthesis_ms=round((t2 - t1) * 1000, 1))
    if req.response_format == "json":
        return jsonify(
            {
                "audio": base64.b64encode(wav).decode("ascii"),
                "format": "wav",
                "sample_rate": loaded.engine.sample_rate,
                "duration_s": round(seconds, 3),
                "normalized_text": job.text,
                "timings": {
                    "normalize_ms": round(job.normalize_ms, 1),
                    "voice_ms": round(job.voice_ms, 1),
                    "synthesis_ms": round((t2 - t1) * 1000, 1),
                    "encode_ms": round((t3 - t2) * 1000, 1),
                    "total_ms": round((t3 - t0) * 1000, 1),
                },
                "real_time_factor": round((t2 - t1) / seconds, 4) if seconds else None,
            }
        )
    response = Response(wav, mimetype="audio/wav")
    response.headers["X-Audio-Duration"] = f"{seconds:.3f}"
    return response


@bp.post("/synthesize/stream")
def synthesize_stream() -> Response:
    srv = serving()
    req = _parse(("wav",))
    loaded = ready()
    acquire_slot(srv.limiter)
    held_from = time.monotonic()
    try:
        job = _prepare(loaded, req)
        chunks = synthesis.stream(loaded, job)
        t_first = time.perf_counter()
        try:
            first = next(chunks)
        except StopIteration:
            raise ApiError(400, "empty_text", "the text produced no audio; send words to speak") from None
        except ValueError as exc:  # the engine's input errors (language, text, speed)
            raise synthesis.engine_error(exc) from None
    except BaseException:
        srv.limiter.release(time.monotonic() - held_from)
        raise
    # ttfc_ms: request arrival to the first audio chunk (queueing, voice, first tokens, vocoder);
    # engine_first_chunk_ms: the engine's part alone.
    access.metric(
        ttfc_ms=round((time.perf_counter() - g.start) * 1000, 1),
        engine_first_chunk_ms=round((time.perf_counter() - t_first) * 1000, 1),
    )
    snap = access.snapshot()
    rate = loaded.engine.sample_rate

    def finish(outcome: str, samples: int, chunks_sent: int) -> None:
        srv.limiter.release(time.monotonic() - held_from)
        access.write(
            snap, 200, None, outcome=outcome, audio_seconds=round(samples / rate, 3), chunks_sent=chunks_sent
        )

    body = StreamBody(
        wav_stream_header(rate) + pcm16_bytes(first.samples),
        chunks,
        first_samples=int(first.samples.shape[0]),
        shutting_down=SHUTTING_DOWN,
        on_finish=finish,
    )
    g.deferred_access_log = True
    response = Response(body, mimetype="audio/wav", direct_passthrough=True)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # proxies must not buffer the stream
    return response
