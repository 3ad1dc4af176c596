"""LiveKit Agents' elevenlabs.TTS, unchanged except its base URL, speaking through this server.

LiveKit Agents with its ElevenLabs plugin (about 400 MB with dependencies) is not in the test suite's
environment: run this from a separate virtual environment (docs/serving-api.md, Voice agents):

    python -m venv /tmp/livekit
    /tmp/livekit/bin/pip install "livekit-agents==1.8.9" "livekit-plugins-elevenlabs==1.8.9"
    /tmp/livekit/bin/python tools/agent_frameworks/livekit_check.py http://localhost:8080 VOICE [KEY]

It opens the plugin's streaming synthesis (multi-stream-input), pushes a Bangla answer in small
pieces as an LLM would, ends the input, and prints the audio frames it got. Exit status 0 when
audio came back.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from livekit.plugins import elevenlabs

ANSWER = ["আমার সোনার ", "বাংলা, আমি ", "তোমায় ভালো", "বাসি। আজ ঢাকার ", "আবহাওয়া বেশ ", "ভালো থাকবে।"]


async def main(base_url: str, voice: str, key: str) -> int:
    async with aiohttp.ClientSession() as session:
        tts = elevenlabs.TTS(
            voice_id=voice,
            api_key=key,
            base_url=base_url.rstrip("/") + "/v1",
            encoding="pcm_24000",
            http_session=session,
        )
        frames, samples = 0, 0
        async with tts.stream() as stream:
            for piece in ANSWER:
                stream.push_text(piece)
                await asyncio.sleep(0.05)  # LLM pace
            stream.end_input()
            async for event in stream:
                frames += 1
                samples += event.frame.samples_per_channel
        await tts.aclose()
    seconds = samples / 24000
    print(f"audio frames {frames}, {seconds:.2f} s at 24000 Hz")
    return 0 if frames and seconds > 0.5 else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2:
        raise SystemExit(__doc__)
    raise SystemExit(asyncio.run(main(args[0], args[1], args[2] if len(args) > 2 else "unused-key")))
