"""`python -m function.evaluate` on the demo bundle (real architecture, random weights): every output
file for two variants and two voices, CER through a tiny ONNX CTC model made here whose decoding is
known, accent distance recomputed independently, the threshold gate's exit status, refusals of a bad
evaluation set, and the HTML report in headless Chromium."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import soundfile as sf
from onnx import TensorProto, helper

from function.evaluate.__main__ import main
from function.evaluate.cer import character_error_rate, edit_distance, normalize_for_cer
from function.evaluate.recognizer import greedy_decode, read_vocab
from function.evaluate.results import COLUMNS, SIGNALS
from function.quality.policy import MAX_EMBED_S, WARNING_CODES
from function.quality.signals import silence

ROOT = Path(__file__).resolve().parents[2]
SR = 24000
FRAME = 480  # samples per frame of the tiny models (20 ms at 24 kHz)
VOCAB = {"<pad>": 0, "<s>": 1, "|": 2, "ক": 3, "খ": 4}
ASR_TOKEN = 3  # the tiny recognizer hears "ক" in anything


def voice_like(seconds: float, f0: float, seed: int) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    f = f0 + 30 * np.sin(2 * np.pi * 0.7 * t)
    voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f) / SR) / k for k in range(1, 8))
    noise = 0.01 * np.random.default_rng(seed).standard_normal(t.shape)
    return (0.2 * voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + noise).astype(np.float32)


def framed_model(path: Path, weight: np.ndarray, bias: np.ndarray, *, pooled: bool) -> None:
    """float32 (1, samples) -> frames of FRAME samples -> a linear map to len(bias) values per frame
    (a strided Conv frames any length). pooled: mean of |values| over frames, (1, D), an embedding;
    else (1, frames, D) logits, a CTC recognizer."""
    out = "pooled" if pooled else "logits"
    nodes = [
        helper.make_node("Unsqueeze", ["input_values", "axis1"], ["wave"]),
        helper.make_node("Conv", ["wave", "w", "b"], ["framed"], strides=[FRAME], kernel_shape=[FRAME]),
    ]
    if pooled:
        nodes += [
            helper.make_node("Abs", ["framed"], ["magnitude"]),
            helper.make_node("ReduceMean", ["magnitude"], [out], axes=[2], keepdims=0),
        ]
    else:
        nodes.append(helper.make_node("Transpose", ["framed"], [out], perm=[0, 2, 1]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, [1, "samples"])],
        [
            helper.make_tensor_value_info(
                out, TensorProto.FLOAT, [1, len(bias)] if pooled else [1, "frames", len(bias)]
            )
        ],
        initializer=[
            helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
            onnx.numpy_helper.from_array(weight.astype(np.float32), "w"),
            onnx.numpy_helper.from_array(bias.astype(np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evaluate")
    (root / "clips").mkdir()
    (root / "accent").mkdir()
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    sf.write(root / "clips" / "anchor.wav", voice_like(3.0, 140, 1), SR, subtype="FLOAT")
    sf.write(elsewhere / "mita.wav", voice_like(3.0, 220, 2), SR, subtype="FLOAT")
    for i, f0 in enumerate((120, 170, 210)):
        # Whole 20 ms frames and never silent: the speech span of each is the whole clip.
        sf.write(root / "accent" / f"ref{i}.wav", voice_like(2.4, f0, 10 + i), SR, subtype="FLOAT")
    # One item per voice: a transcript on the first, the normalized text as reference on the second;
    # the second voice by absolute path.
    (root / "set.tsv").write_text(
        "id\ttext\tvoice\ttranscript\n"
        "anchor-1\tআমি গান গাই।\tclips/anchor.wav\tকখ\n"
        f"mita-1\tক খ\t{elsewhere / 'mita.wav'}\t\n",
        encoding="utf-8",
    )
    rng = np.random.default_rng(7)
    framed_model(root / "embed.onnx", rng.standard_normal((16, 1, FRAME)), np.zeros(16), pooled=True)
    logits = np.zeros(len(VOCAB))
    logits[ASR_TOKEN] = 5.0  # constant logits: every frame is "ক", so the transcript is "ক"
    framed_model(root / "asr.onnx", np.zeros((len(VOCAB), 1, FRAME)), logits, pooled=False)
    (root / "vocab.json").write_text(json.dumps(VOCAB, ensure_ascii=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def report(workspace: Path, demo_bundle: Path) -> Path:
    out = workspace / "out"
    argv = [
        "--evalset", str(workspace / "set.tsv"),
        "--bundle", str(demo_bundle),
        "--variants", "fp32,int8",
        "--out", str(out),
        "--accent-refs", str(workspace / "accent"),
        "--embedding-model", str(workspace / "embed.onnx"),
        "--embedding-rate", str(SR),
        "--asr", str(workspace / "asr.onnx"),
        "--asr-vocab", str(workspace / "vocab.json"),
        "--max-cer", "0.9",
        "--max-runaway-share", "1",
        "--keep-audio",
        "--no-progress",
        "--threads", "2",
    ]  # fmt: skip
    assert main(argv) == 0
    return out


def items(out: Path) -> list[dict[str, str]]:
    with (out / "items.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_file_holds_every_column_and_key_for_two_variants_and_two_voices(report: Path) -> None:
    with (report / "items.csv").open(encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == list(COLUMNS)
    rows = items(report)
    assert [(r["variant"], r["id"]) for r in rows] == [
        ("fp32", "anchor-1"),
        ("fp32", "mita-1"),
        ("int8", "anchor-1"),
        ("int8", "mita-1"),
    ]
    assert {r["bundle"] for r in rows} == {"bundle"}  # the bundle directory's name
    for r in rows:
        assert float(r["seconds"]) > 0 and float(r["synthesis_s"]) > 0 and float(r["tokens"]) > 0
        assert r["loudness_lufs"] and r["silence_share"] and r["clipping_share"]
        assert set(filter(None, r["warnings"].split(";"))) <= set(WARNING_CODES)
        kept, rate = sf.read(report / r["audio"], dtype="float32")
        assert rate == SR and kept.shape[0] / SR == pytest.approx(float(r["seconds"]), abs=5e-4)

    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["passed"] is True and summary["failures"] == []
    assert summary["thresholds"] == {"--max-cer": 0.9, "--max-runaway-share": 1.0}
    assert list(summary["targets"]) == ["bundle/fp32", "bundle/int8"]
    for target in summary["targets"].values():
        assert target["count"] == 2 and target["passed"] is True
        assert set(target["signals"]) == set(SIGNALS)
        assert set(target["signals"]["cer"]) == {"count", "mean", "median", "p10", "p90", "min", "max"}
        assert set(target["warning_rates"]) == set(WARNING_CODES)
        assert [c["option"] for c in target["checks"]] == ["--max-cer", "--max-runaway-share"]
        assert len(target["voices"]) == 2
        for voice in target["voices"].values():
            assert voice["count"] == 1 and set(voice["signals"]) == set(SIGNALS)
    fp32 = summary["targets"]["bundle/fp32"]
    similarity = [float(r["speaker_similarity"]) for r in rows if r["variant"] == "fp32"]
    assert fp32["signals"]["speaker_similarity"]["mean"] == pytest.approx(np.mean(similarity), abs=1e-6)
    assert (report / "report.html").stat().st_size > 10_000


def test_cer_is_measured_against_the_transcript_or_else_the_normalized_text(report: Path) -> None:
    for r in items(report):
        assert r["hypothesis"] == "ক"
        if r["id"] == "anchor-1":
            assert r["reference"] == "কখ"
            assert float(r["cer"]) == pytest.approx(1 / 2, abs=1e-6)  # "খ" deleted
        else:
            assert r["reference"] == "ক খ"
            assert float(r["cer"]) == pytest.approx(2 / 3, abs=1e-6)  # " " and "খ" deleted


def embed(session: ort.InferenceSession, audio: np.ndarray) -> np.ndarray:
    vector = session.run(None, {"input_values": audio[None].astype(np.float32)})[0].reshape(-1)
    return np.asarray(vector / np.linalg.norm(vector), np.float64)


def speech(audio: np.ndarray) -> np.ndarray:
    sil = silence(audio, SR)
    start = round(sil.leading_s * SR)
    return audio[start : start + round(min(sil.speech_s, MAX_EMBED_S) * SR)]


def test_accent_distance_is_one_minus_cosine_to_the_references_centroid(
    report: Path, workspace: Path
) -> None:
    session = ort.InferenceSession(str(workspace / "embed.onnx"), providers=["CPUExecutionProvider"])
    refs = [sf.read(p, dtype="float32")[0] for p in sorted((workspace / "accent").glob("*.wav"))]
    centroid = np.mean([embed(session, ref) for ref in refs], axis=0)
    for r in items(report):
        out = embed(session, speech(sf.read(report / r["audio"], dtype="float32")[0]))
        expected = 1 - out @ centroid / np.linalg.norm(centroid)
        assert float(r["accent_distance"]) == pytest.approx(expected, abs=2e-6)


def test_a_bundle_below_a_threshold_fails_by_name_and_stored_voices_are_used(
    workspace: Path, demo_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 names the bundle/variant and the option; the accent default is the bundle's own
    speaker encoder, and a row may name a voice saved in a voice store."""
    from function.engine import Engine, Voice
    from function.service.model import voices_location
    from function.storage import open_store
    from function.voices import VoiceStore

    engine = Engine.load(demo_bundle / "int8", intra_op_threads=2)
    store = VoiceStore(
        open_store(voices_location(str(tmp_path / "voices"), engine.manifest)),
        capacity=4,
        loads=Voice.from_bytes,
        dumps=lambda v: v.to_bytes(),
        model=engine.model_id,
    )
    clip = sf.read(workspace / "clips" / "anchor.wav", dtype="float32")[0]
    info = store.add(engine.make_voice(clip, SR), name=None, reference_seconds=3.0)
    (tmp_path / "one.tsv").write_text(f"text\tvoice\nআমি গান গাই।\t{info.voice_id}\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = [
        "--evalset", str(tmp_path / "one.tsv"),
        "--bundle", str(demo_bundle / "int8"),
        "--voices", str(tmp_path / "voices"),
        "--out", str(out),
        "--accent-refs", str(workspace / "accent"),
        "--min-speaker-similarity", "1.01",
        "--keep-audio",
        "--no-progress",
        "--threads", "2",
    ]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "FAIL bundle/int8" in err and "--min-speaker-similarity 1.01" in err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["passed"] is False
    ((failure),) = summary["failures"]
    assert failure["target"] == "bundle/int8" and failure["metric"] == "speaker_similarity"
    ((row),) = items(out)
    assert row["voice"] == info.voice_id and row["id"] == "2"  # the default id: its line
    assert float(row["speaker_similarity"]) < 1.01 and not row["cer"]

    refs = [sf.read(p, dtype="float32")[0] for p in sorted((workspace / "accent").glob("*.wav"))]
    centroid = np.mean([engine.embed_speaker(ref, SR) for ref in refs], axis=0)  # unit vectors
    out_vec = engine.embed_speaker(speech(sf.read(out / row["audio"], dtype="float32")[0]), SR)
    expected = 1 - float(out_vec @ centroid) / float(np.linalg.norm(out_vec) * np.linalg.norm(centroid))
    assert float(row["accent_distance"]) == pytest.approx(expected, abs=2e-6)


@pytest.mark.parametrize(
    ("tsv", "message"),
    [
        (
            "text\tspeaker\nএক\tclips/anchor.wav\n",
            "the header must name the tab-separated columns text and voice",
        ),
        (
            "text\tvoice\nএক\tclips/missing.wav\n",
            "set.tsv:2: voice 'clips/missing.wav' is neither a voice id",
        ),
        (
            "text\tvoice\nএক\tclips/anchor.wav\textra\n",
            "set.tsv:2: 3 tab-separated fields where the header has 2",
        ),
        (
            "id\ttext\tvoice\nx\tএক\tclips/anchor.wav\nx\tদুই\tclips/anchor.wav\n",
            "id 'x' is already used on line 2",
        ),
        ("text\tvoice\n", "holds no items"),
    ],
)
def test_a_bad_evaluation_set_exits_2_naming_what_is_wrong(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tsv: str, message: str
) -> None:
    (tmp_path / "clips").symlink_to(workspace / "clips")
    (tmp_path / "set.tsv").write_text(tsv, encoding="utf-8")
    argv = ["--evalset", str(tmp_path / "set.tsv"), "--bundle", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_command_exits_2_for_bad_input_and_bad_arguments(workspace: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "function.evaluate", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    out = run("--evalset", str(tmp_path / "absent.tsv"), "--bundle", str(tmp_path), "--out", str(tmp_path))
    assert out.returncode == 2 and "cannot read the evaluation set" in out.stderr
    base = ["--evalset", str(workspace / "set.tsv"), "--bundle", str(tmp_path), "--out", str(tmp_path)]
    out = run(*base, "--max-cer", "0.2")
    assert out.returncode == 2 and "--max-cer needs --asr" in out.stderr
    out = run(*base)
    assert out.returncode == 2 and "neither a variant directory" in out.stderr


def test_without_matplotlib_it_imports_and_refuses_before_any_synthesis(
    workspace: Path,
    demo_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The serving image has no matplotlib: the package imports there, and the command says what
    to install before spending time on synthesis."""
    probe = "import sys, function.evaluate.__main__; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    argv = [
        "--evalset",
        str(workspace / "set.tsv"),
        "--bundle",
        str(demo_bundle),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    assert "install function/requirements-evaluate.txt" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_greedy_ctc_decoding_collapses_repeats_and_drops_blanks(tmp_path: Path) -> None:
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB, ensure_ascii=False), encoding="utf-8")
    texts, blank = read_vocab(tmp_path / "vocab.json")
    assert blank == 0 and texts == ["", "", " ", "ক", "খ"]
    best = [1, 3, 3, 0, 3, 2, 2, 4, 0, 0, 4, 4, 2]  # <s> কক _ ক || খ __ খখ |
    logits = np.eye(len(VOCAB))[best]
    assert greedy_decode(logits, texts, blank) == "কক খখ"


def test_cer_normalizes_both_sides_alike() -> None:
    # Decomposed and composed য় are one letter; punctuation and spacing do not count; case folds.
    assert normalize_for_cer("ভয়।  Hello,world ") == normalize_for_cer("ভয় hello world")
    assert edit_distance("kitten", "sitting") == 3
    assert character_error_rate("abcd", "abxd") == 0.25
    assert character_error_rate("।", "anything") is None


def test_the_report_opens_in_headless_chromium_without_errors(report: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: `make env` installs it"
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto((report / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("[...document.images].map(i => [i.alt, i.complete, i.naturalWidth])")
        text = page.inner_text("body")
        browser.close()
    assert problems == []
    # The warning rates, and one plot per signal (every one is measured in this run).
    assert len(images) == 1 + len(SIGNALS)
    assert all(complete and width > 0 for _, complete, width in images), images
    assert "PASS" in text and "bundle/fp32" in text and "bundle/int8" in text
