"""Word timestamps' cost next to synthesis (issue 28): the forced aligner on CPU, beside the
synthesis that made the audio.

The aligner: a CTC model of wav2vec2-base's size and shape (transformers' Wav2Vec2ForCTC, default
base config: 7 conv feature layers, 12 transformer layers 768 wide, ~94 M parameters) with random
weights and a Bangla character vocabulary, exported to ONNX once and cached under bench/cache/. The
synthesis: the full-size XTTS v2 architecture with random weights (the engine bench's cached
bundle), int8, through the service, each item forced to a token count. Overhead = the aligner's
time on the item's audio / the synthesis time, per item; the estimate (no aligner) beside it.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.bench_quality import ITEMS, THREADS
from bench.machine import write_result

# A Bangla character vocabulary of the size Bangla wav2vec2 CTC heads have.
LETTERS = "অআইঈউঊঋএঐওঔকখগঘঙচছজঝঞটঠডঢণতথদধনপফবভমযরলশষসহড়ঢ়য়ৎংঃঁািীুূৃেৈোৌ্"


def aligner_model(cache: Path) -> tuple[Path, Path]:
    """wav2vec2-base's shape with random weights, as ONNX, and its vocab.json (built once)."""
    model, vocab_path = cache / "aligner-w2v2-base.onnx", cache / "aligner-vocab.json"
    letters = dict.fromkeys(LETTERS)  # one token a code point (ড় is ড and the nukta)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: i + 5 for i, c in enumerate(letters)}}
    if not model.is_file():
        import torch
        from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

        torch.manual_seed(0)
        net = Wav2Vec2ForCTC(Wav2Vec2Config(vocab_size=len(vocab), pad_token_id=0)).eval()
        size = sum(p.numel() for p in net.parameters()) / 1e6
        print(f"exporting a wav2vec2-base-size CTC model ({size:.0f} M parameters)")
        torch.onnx.export(
            net,
            (torch.zeros(1, 16000),),
            str(model),
            input_names=["input_values"],
            output_names=["logits"],
            dynamic_axes={"input_values": {1: "samples"}, "logits": {1: "frames"}},
            opset_version=17,
            dynamo=False,
        )
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    return model, vocab_path


def run(build: Path) -> list[dict[str, Any]]:
    from bench.bench_quality import served
    from function.align.aligner import CtcAligner
    from function.align.ctc_model import CtcModel
    from function.align.timing import estimate_words
    from function.service.speech import SpeechRequest

    model, vocab = aligner_model(build.parent)
    aligner = CtcAligner(CtcModel(model, vocab, threads=THREADS))
    service, loaded, voice = served(build, "int8", TTS_QUALITY_CHECKS="false")
    rows = []
    try:
        for text, tokens in ITEMS:
            loaded.defaults.update(min_new_tokens=tokens, max_new_tokens=tokens, seed=1)
            service.synthesize(SpeechRequest(text, "bn", voice=voice))  # warm-up for this length
            speech = service.synthesize(SpeechRequest(text, "bn", voice=voice))
            words = speech.prepared.text
            aligner.align(words, speech.audio, speech.sample_rate)  # warm-up
            t0 = time.perf_counter()
            placed = aligner.align(words, speech.audio, speech.sample_rate)
            align_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            estimate_words(words, speech.audio, speech.sample_rate)
            estimate_ms = (time.perf_counter() - t0) * 1000
            assert len(placed) == len(words.split())
            rows.append(
                {
                    "tokens": tokens,
                    "audio_s": round(speech.seconds, 3),
                    "words": len(placed),
                    "synthesis_ms": round(speech.synthesis_ms, 1),
                    "forced_ms": round(align_ms, 1),
                    "estimated_ms": round(estimate_ms, 2),
                    "forced_pct": round(100 * align_ms / speech.synthesis_ms, 2),
                }
            )
    finally:
        loaded.scheduler.stop()
    return rows


def main() -> None:
    import subprocess
    import sys

    from bench.bench_engine import ROOT, prepare

    subprocess.run([sys.executable, "-m", "bench.bench_engine", "prepare"], check=True, cwd=ROOT)
    rows = run(prepare())
    head = ("tokens", "audio s", "words", "synth ms", "forced ms", "share", "estimate ms")
    print("\n" + " ".join(f"{h:>{w}}" for h, w in zip(head, (6, 7, 5, 9, 9, 7, 11), strict=True)))
    for r in rows:
        print(
            f"{r['tokens']:>6} {r['audio_s']:7.2f} {r['words']:>5} {r['synthesis_ms']:9.0f} "
            f"{r['forced_ms']:9.1f} {r['forced_pct']:6.2f}% {r['estimated_ms']:11.2f}"
        )
    ratios = {
        "forced_over_synthesis_int8_median": round(statistics.median(r["forced_pct"] for r in rows) / 100, 4)
    }
    print("\nratios: " + ", ".join(f"{k} {v:.4f}" for k, v in ratios.items()))
    path = write_result("align", {"threads": THREADS, "items": rows, "ratios": ratios})
    print(f"written {path}")


if __name__ == "__main__":
    main()
