"""When a stream vocodes its next chunk.

A stream's chunks follow a schedule (`chunk_sizes`: a small first chunk, as small a second, then
doubling): few vocoder calls while decoding runs far ahead of real time. But doubling only keeps a
listener fed while codes are made in under half their audio's length: chunk k+1 is made while chunk
k plays, and on two CPU cores a code takes about 0.8 of its audio to make, so a chunk twice the last
one arrives after the player has run dry. The pacer therefore models the listener as a real-time
player that starts at the stream's first chunk, and sizes each next chunk to what can be made
before that player runs out (at the pace codes and vocoder calls have taken so far), never above
the schedule's size. Chunks then grow as fast as the decoder stays ahead, and no faster.

The schedule is kept when codes come slower than their audio, or when the chunk that could be made
in time is under MIN_PACED_CODES (after a short first chunk on a slow host): the player will wait
either way, and small chunks only add vocoder calls (each re-runs the vocoder's context) and make
it wait longer and more often.

A reproducible request (seeded or greedy) is not paced: where its chunks start would then depend on
the host's speed, and the int8 vocoder's output moves by a rounding step with a window's edges, so
the same request would not give the same bytes twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

# The largest streamed chunk, in audio codes (~3.7 s of speech): each chunk re-runs the vocoder's
# receptive field on both sides, so larger chunks cost less in all, smaller ones arrive sooner.
STREAM_CHUNK_CAP = 80

# Room kept between a chunk's expected arrival and the moment the player would run dry: a step's
# jitter and the chunk's way to the client (encoding, a socket write).
GUARD_S = 0.03
# The smallest chunk the pacer asks for: below it the vocoder's context, re-run per call, costs
# more than the chunk's audio gains. A third of what it was with HiFi-GAN in one graph (8), since
# only its head re-runs the whole context (function/engine/vocoder.py); at 4, a model of this
# pacing at the timed speeds of a 2-core VNNI CPU (codes in 34 ms, the vocoder at 1.15 ms a frame)
# leaves a stream's listener no gap, where 8 leaves two (docs/serving.md#time-to-first-audio).
MIN_PACED_CODES = 4


def chunk_sizes(first: int) -> Iterator[int]:
    """A stream's chunk sizes in audio codes: `first`, as small again (the first one's audio is
    short: the next must follow before it has played), then doubling (fewer vocoder calls, each
    re-running its context) up to STREAM_CHUNK_CAP, however small the first."""
    size = max(1, first)
    yield size
    while True:
        yield size
        size = min(size * 2, max(STREAM_CHUNK_CAP, first))


class ChunkPacer:
    """One stream's chunk sizes, across its pieces (sentences): `piece()` at each piece's start,
    `due()` at each code, `pushed()` when codes go to the vocoder, `vocoded()` after its call,
    `emitted()` as audio leaves."""

    def __init__(self, sample_rate: int, clock: Callable[[], float], *, paced: bool = True) -> None:
        self._rate = sample_rate
        self._paced = paced  # False: the schedule alone
        self._clock = clock
        self._sizes = chunk_sizes(1)
        self.target = 1  # the size of the chunk being gathered
        self._dry_at: float | None = None  # when the modelled player runs out (None: not started)
        self._first_code = 0.0  # when the stream's first code arrived
        self._codes = 0  # codes arrived since
        self._vocode_per_code = 0.0  # the last vocoder call's seconds per code
        self._unvocoded = 0  # codes pushed to the vocoder's input since its last call
        self._code_seconds = 0.0  # audio a code makes in the current piece

    def piece(self, first: int, code_seconds: float) -> None:
        """A new piece starts: its chunks follow their own schedule from `first` codes; each of its
        codes is `code_seconds` of audio."""
        self._sizes = chunk_sizes(first)
        self.target = next(self._sizes)
        self._code_seconds = code_seconds

    def due(self, pending: int) -> bool:
        """Whether the `pending` codes gathered so far (the newest just arrived) are vocoded now."""
        if self._codes == 0:
            self._first_code = self._clock()
        self._codes += 1
        return pending >= self.target

    def pushed(self, codes: int) -> None:
        """The gathered `codes` went to the vocoder's input: the next chunk has the next size."""
        self._unvocoded += codes
        self.target = next(self._sizes)

    def vocoded(self, seconds: float) -> None:
        """The vocoder took `seconds` (its context included) for the codes pushed since its last call."""
        if self._unvocoded > 0:
            self._vocode_per_code = seconds / self._unvocoded
        self._unvocoded = 0

    def emitted(self, samples: int) -> None:
        """`samples` of audio (speech or a pause) leave now: the next chunk is sized to arrive
        before they are played out."""
        now = self._clock()
        self._dry_at = max(self._dry_at or now, now) + samples / self._rate
        if not self._paced or self._codes < 2:
            return  # the schedule alone, or no pace known yet
        # Seconds between codes as they have come: decoding, and the vocoder where it holds it up.
        arrival = (now - self._first_code) / (self._codes - 1)
        if arrival >= self._code_seconds:
            return  # slower than real time: the player waits whatever the sizes
        fits = int((self._dry_at - now - GUARD_S) / (arrival + self._vocode_per_code))
        if fits >= MIN_PACED_CODES:
            self.target = min(self.target, fits)
