"""`python -m export build|demo|verify`: see docs/model-bundle.md."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from function.bundle_format import VARIANTS


def _parse_limits(values: list[str]) -> dict[str, int]:
    limits = {}
    for item in values:
        lang, _, n = item.partition("=")
        if not lang or not n.isdigit():
            raise SystemExit(f"--char-limit expects LANG=N, got {item!r}")
        limits[lang] = int(n)
    return limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="export a checkpoint into a model bundle")
    b.add_argument("--checkpoint", type=Path, required=True)
    b.add_argument("--config", type=Path, required=True)
    b.add_argument("--vocab", type=Path, required=True)
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--variants", default="fp32,fp16,int8")
    b.add_argument("--name", default="bn-xtts")
    b.add_argument("--version", default="v1")
    b.add_argument("--char-limit", action="append", default=[], metavar="LANG=N")
    b.add_argument("--upload", metavar="gs://BUCKET/PREFIX/")
    d = sub.add_parser("demo", help="tiny config, random weights, the real architecture")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--variants", default="fp32,fp16,int8")
    d.add_argument("--seed", type=int, default=0)
    v = sub.add_parser("verify", help="checksums, graphs load, one short synthesis")
    v.add_argument("bundle", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    if args.cmd == "verify":
        from export.verify import verify

        return verify(args.bundle)

    from export.build import build_bundle

    variants = [x.strip() for x in args.variants.split(",") if x.strip()]
    bad = [x for x in variants if x not in VARIANTS]
    if bad:
        parser.error(f"unknown variant(s) {bad}; choose from {', '.join(VARIANTS)}")
    if args.cmd == "demo":
        from export.demo import write_demo_checkpoint

        with tempfile.TemporaryDirectory() as tmp:
            config, ckpt, vocab = write_demo_checkpoint(Path(tmp), seed=args.seed)
            build_bundle(
                ckpt,
                config,
                vocab,
                args.out,
                variants=variants,
                model_name="bn-xtts-demo",
                model_version="demo",
            )
    else:
        build_bundle(
            args.checkpoint,
            args.config,
            args.vocab,
            args.out,
            variants=variants,
            model_name=args.name,
            model_version=args.version,
            char_limits=_parse_limits(args.char_limit),
        )
        if args.upload:
            from export.upload import upload_bundle

            upload_bundle(args.out, args.upload)
    print(f"[export] bundle written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
