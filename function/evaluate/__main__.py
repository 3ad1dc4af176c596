"""`python -m function.evaluate`: synthesize an evaluation set with one or more bundles/variants and
write items.csv, summary.json and report.html (docs/evaluation.md).

Exit status: 0 when every bundle/variant meets every threshold given; 1 when one does not (each
failure is named on stderr and in summary.json), so a pipeline can gate a checkpoint on it; 2 for
bad arguments or input that cannot be read (the message names it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from function.batch.progress import Progress
from function.evaluate.accent import AccentError, OnnxEmbedder, read_clips
from function.evaluate.evalset import EvalSetError, read_evalset
from function.evaluate.recognizer import CtcRecognizer, RecognizerError
from function.evaluate.report import ReportError, require_matplotlib, write_report
from function.evaluate.results import write_items_csv
from function.evaluate.run import EvalError, Options, evaluate
from function.evaluate.summary import THRESHOLDS, Threshold, summarize
from function.evaluate.targets import TargetError, find_targets, parse_variants

_HEADLINE = ("speaker_similarity", "accent_distance", "cer")  # the means printed per target
_INPUT_ERRORS = (EvalSetError, TargetError, AccentError, RecognizerError, EvalError, ReportError, OSError)


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m function.evaluate",
        description="Accent and quality evaluation of model bundles over an evaluation set.",
    )
    p.add_argument(
        "--evalset", type=Path, required=True, help="TSV: text, voice [, id, language, transcript]"
    )
    p.add_argument(
        "--bundle",
        type=Path,
        action="append",
        required=True,
        help="a bundle (parent of fp32/ int8/ fp16/) or one variant directory; repeat to compare bundles",
    )
    p.add_argument(
        "--variants", help="variants of each bundle to evaluate, e.g. fp32,int8 (default: all present)"
    )
    p.add_argument("--out", type=Path, required=True, help="report directory (created; files in it replaced)")
    p.add_argument(
        "--voices", help="directory or gs:// location of stored voices (TTS_VOICES_PATH), for voice ids"
    )
    p.add_argument("--accent-refs", type=Path, help="directory of reference clips in the target accent")
    p.add_argument(
        "--embedding-model",
        type=Path,
        help="ONNX embedding model for accent distance: float32 (1, samples) in, (1, D) or (D,) out "
        "(default: each bundle's speaker encoder)",
    )
    p.add_argument("--embedding-rate", type=int, default=16000, help="the embedding model's sample rate")
    p.add_argument(
        "--asr", type=Path, help="ONNX CTC recognizer: float32 (1, samples) in, (1, frames, vocab) out"
    )
    p.add_argument("--asr-vocab", type=Path, help="its vocab.json (token -> id)")
    p.add_argument("--asr-rate", type=int, default=16000, help="the recognizer's sample rate")
    p.add_argument(
        "--asr-normalize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="zero-mean unit-variance input, as wav2vec2's feature extractor (default: on)",
    )
    for dest, (metric, bound) in THRESHOLDS.items():
        p.add_argument(
            _option(dest),
            type=float,
            dest=dest,
            help=f"fail a bundle/variant whose {'mean ' if 'share' not in metric else ''}{metric} is "
            f"{'below' if bound == 'min' else 'above'} this",
        )
    p.add_argument("--seed", type=int, default=0, help="sampling seed of every synthesis (default 0)")
    p.add_argument(
        "--threads", type=int, default=0, help="onnxruntime threads per graph (default: every core)"
    )
    p.add_argument("--gpu", action="store_true", help="run on the CUDA provider (onnxruntime-gpu)")
    p.add_argument("--keep-audio", action="store_true", help="also write every output under OUT/audio/")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar on stderr (default: when stderr is a terminal)",
    )
    return p


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> list[Threshold]:
    """Combinations argparse cannot check; exits 2 (argparse's usage error) naming the option."""
    if (args.asr is None) != (args.asr_vocab is None):
        p.error("--asr and --asr-vocab go together")
    if args.embedding_model is not None and args.accent_refs is None:
        p.error("--embedding-model needs --accent-refs (the clips whose centroid it measures against)")
    needs = {"max_accent_distance": ("accent_refs", "--accent-refs"), "max_cer": ("asr", "--asr")}
    thresholds = []
    for dest, (metric, bound) in THRESHOLDS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if not math.isfinite(value):
            p.error(f"{_option(dest)} must be a number")
        if dest in needs and getattr(args, needs[dest][0]) is None:
            p.error(f"{_option(dest)} needs {needs[dest][1]}: nothing would be measured")
        thresholds.append(Threshold(_option(dest), metric, bound, value))
    if args.seed < 0 or args.threads < 0 or args.embedding_rate <= 0 or args.asr_rate <= 0:
        p.error("--seed and --threads must be 0 or more, the rates positive")
    return thresholds


def _options(args: argparse.Namespace) -> Options:
    """The evaluation's settings, with every input read and every model loaded (or an input error)."""
    embedder = recognizer = None
    if args.embedding_model:
        embedder = OnnxEmbedder(
            args.embedding_model, args.embedding_rate, use_gpu=args.gpu, threads=args.threads
        )
    if args.asr:
        recognizer = CtcRecognizer(
            args.asr,
            args.asr_vocab,
            sample_rate=args.asr_rate,
            normalize=args.asr_normalize,
            use_gpu=args.gpu,
            threads=args.threads,
        )
    return Options(
        seed=args.seed,
        threads=args.threads,
        use_gpu=args.gpu,
        voices=args.voices,
        audio_dir=args.out / "audio" if args.keep_audio else None,
        accent_refs=read_clips(args.accent_refs) if args.accent_refs else (),
        embedder=embedder,
        recognizer=recognizer,
    )


def _header(
    args: argparse.Namespace, options: Options, items: int, thresholds: list[Threshold]
) -> dict[str, Any]:
    """What the run was: the summary's first keys and the report's settings table."""
    accent = None
    if args.accent_refs is not None:
        model = str(args.embedding_model) if args.embedding_model else "each bundle's speaker encoder"
        accent = {"references": str(args.accent_refs), "clips": len(options.accent_refs), "model": model}
    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "evalset": str(args.evalset),
        "items": items,
        "seed": args.seed,
        "accent": accent,
        "asr": None if args.asr is None else {"model": str(args.asr), "vocab": str(args.asr_vocab)},
        "thresholds": {t.option: t.value for t in thresholds},
    }


def _print_verdict(summary: dict[str, Any]) -> None:
    for name, target in summary["targets"].items():
        means = target["signals"]
        shown = [f"{s} {means[s]['mean']:.3f}" for s in _HEADLINE if means[s]["mean"] is not None]
        verdict = "" if not target["checks"] else ", PASS" if target["passed"] else ", FAIL"
        warned = f"{target['warning_share']:.0%} warned"
        print(f"{name}: {target['count']} items, {', '.join([warned, *shown])}{verdict}")
    for f in summary["failures"]:
        measured = (
            f"no measurable {f['metric']}"
            if f["value"] is None
            else f"{f['metric']} {f['value']:.4g} is {'below' if f['bound'] == 'min' else 'above'}"
        )
        print(f"FAIL {f['target']}: {measured} {f['option']} {f['threshold']:g}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    thresholds = _check(parser, args)
    try:
        require_matplotlib()
        items = read_evalset(args.evalset)
        targets = find_targets(args.bundle, parse_variants(args.variants))
        options = _options(args)
        args.out.mkdir(parents=True, exist_ok=True)
        draw = sys.stderr.isatty() if args.progress is None else args.progress
        rows = evaluate(items, targets, options, Progress(bar=sys.stderr if draw else None))
    except _INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = {**_header(args, options, len(items), thresholds), **summarize(rows, thresholds)}
    write_items_csv(rows, args.out / "items.csv")
    (args.out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    write_report(args.out / "report.html", rows, summary)
    _print_verdict(summary)
    print(f"report: {args.out / 'report.html'}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
