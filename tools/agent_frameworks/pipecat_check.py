"""Pipecat's ElevenLabsTTSService, unchanged except its URL, speaking through this server.

Pipecat (pipecat-ai[elevenlabs], about 520 MB with its dependencies) is not in the test suite's
environment: run this from a separate virtual environment (docs/serving-api.md, Voice agents):

    python -m venv /tmp/pipecat && /tmp/pipecat/bin/pip install "pipecat-ai[elevenlabs]==1.14.0"
    /tmp/pipecat/bin/python tools/agent_frameworks/pipecat_check.py http://localhost:8080 VOICE [KEY]

It runs a Pipecat pipeline whose only service is ElevenLabsTTSService (multi-stream-input, its own
context handling, keep-alives and word timestamps), queues two Bangla sentences as TTSSpeakFrames,
and prints the audio it received: frames, seconds, and the words Pipecat timed from the alignment.
Exit status 0 when audio came back for both sentences.
"""

from __future__ import annotations

import asyncio
import sys

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineTask
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.elevenlabs.tts import ElevenLabsTTSService

SENTENCES = ["আমার সোনার বাংলা, আমি তোমায় ভালোবাসি।", "আজ ঢাকার আবহাওয়া বেশ ভালো থাকবে।"]


class Collect(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.audio_bytes = 0
        self.frames = 0
        self.words: list[str] = []
        self.rate = 0
        self.stopped = 0  # contexts whose audio ended (isFinal)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.frames += 1
            self.audio_bytes += len(frame.audio)
            self.rate = frame.sample_rate
        elif isinstance(frame, TTSTextFrame):
            self.words.append(frame.text)
        elif isinstance(frame, TTSStoppedFrame):
            self.stopped += 1
        await self.push_frame(frame, direction)


async def main(base_url: str, voice: str, key: str) -> int:
    tts = ElevenLabsTTSService(
        api_key=key,
        voice_id=voice,
        url=base_url.replace("http://", "ws://").replace("https://", "wss://"),
        sample_rate=24000,
    )
    sink = Collect()
    task = PipelineTask(Pipeline([tts, sink]), idle_timeout_secs=60)
    run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    for sentence in SENTENCES:
        await task.queue_frame(TTSSpeakFrame(sentence))
    # Each sentence is a turn: Pipecat flushes it and closes its context; the server speaks it and
    # answers isFinal (a TTSStoppedFrame here). An EndFrame sent earlier would disconnect first.
    for _ in range(600):
        if sink.stopped >= len(SENTENCES):
            break
        await asyncio.sleep(0.5)
    await task.queue_frame(EndFrame())
    await asyncio.wait_for(run, timeout=60)
    seconds = sink.audio_bytes / 2 / (sink.rate or 24000)
    print(f"audio frames {sink.frames}, {seconds:.2f} s at {sink.rate} Hz; words timed: {sink.words}")
    return 0 if sink.frames and seconds > 0.5 else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2:
        raise SystemExit(__doc__)
    raise SystemExit(asyncio.run(main(args[0], args[1], args[2] if len(args) > 2 else "unused-key")))
