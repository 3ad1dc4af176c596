"""A demo checkpoint: the real XTTS v2 architecture at a tiny size, with random weights.

It is written in the shape coqui-tts's fine-tuning recipe writes (a trainer checkpoint with
`xtts.`-prefixed keys and training-only parts, a vocab extended with `[bn]`), so the demo goes
through exactly the loading path a real fine-tuned checkpoint takes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

FULL_CONFIG = Path(__file__).parent / "configs" / "xtts_v2.json"

# Small enough for the test suite; every structural feature of v2 kept (perceiver, 1026 audio tokens).
TINY_MODEL_ARGS = {
    "gpt_layers": 2,
    "gpt_n_model_channels": 128,
    "gpt_n_heads": 4,
    "gpt_max_audio_tokens": 96,
    "gpt_max_text_tokens": 200,
    "decoder_input_dim": 128,
}

LANGUAGES = [
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "pl",
    "tr",
    "ru",
    "nl",
    "cs",
    "ar",
    "zh-cn",
    "hu",
    "ko",
    "ja",
    "hi",
]

_CORPUS = [
    "the quick brown fox jumps over the lazy dog while the sun sets behind the hills",
    "speech synthesis turns written text into natural sounding audio for every listener",
    "আমার সোনার বাংলা আমি তোমায় ভালোবাসি চিরদিন তোমার আকাশ তোমার বাতাস",
    "ঢাকা বাংলাদেশের রাজধানী এবং সবচেয়ে বড় শহর যেখানে কোটি মানুষ বাস করে",
    "আজ সকালে বৃষ্টি হয়েছে তাই রাস্তায় পানি জমে গেছে এবং যানজট বেড়েছে",
    "একুশে ফেব্রুয়ারি আন্তর্জাতিক মাতৃভাষা দিবস হিসেবে সারা বিশ্বে পালিত হয়",
]
_BANGLA_BLOCK = [chr(c) for c in range(0x0980, 0x0A00)] + ["\u200c", "\u200d"]
_ASCII = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?;:'-\"()")


def demo_vocab(languages: list[str], size: int | None = None) -> Tokenizer:
    """A BPE vocab laid out like XTTS's: [STOP]=0, [UNK]=1, [SPACE]=2, language tokens, [START]."""
    specials = ["[STOP]", "[UNK]", "[SPACE]"] + [f"[{lang}]" for lang in languages] + ["[START]"]
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=_BANGLA_BLOCK + _ASCII, show_progress=False
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    if size is not None and tok.get_vocab_size() < size:
        # Pad to the released vocab's size so the text embedding has its real shape.
        tok.add_tokens([f"[unused{i}]" for i in range(size - tok.get_vocab_size())])
    return tok


def demo_config(languages: list[str], *, full_size: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(FULL_CONFIG.read_text())
    config["languages"] = languages
    if not full_size:
        config["model_args"].update(TINY_MODEL_ARGS)
        # A short conditioning window keeps the demo fast; real configs carry their own values.
        config["gpt_cond_len"] = 6
        config["gpt_cond_chunk_len"] = 6
    return config


def write_demo_checkpoint(
    out_dir: Path, seed: int = 0, stop_logit_bias: float = 0.0, *, full_size: bool = False
) -> tuple[Path, Path, Path]:
    """Write config.json, vocab.json and best_checkpoint.pth (trainer layout) into out_dir.

    `stop_logit_bias` raises the stop token's logit (tests use it to make generation end early);
    `full_size` keeps the released v2 dimensions (30 layers, 1024 wide, 16 heads) for benchmarks.
    """
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    out_dir.mkdir(parents=True, exist_ok=True)
    languages = [*LANGUAGES, "bn"]
    vocab_path = out_dir / "vocab.json"
    full = demo_config(languages, full_size=True)["model_args"]["gpt_number_text_tokens"]
    demo_vocab(languages, size=full if full_size else None).save(str(vocab_path))
    config_path = out_dir / "config.json"
    config_path.write_text(json.dumps(demo_config(languages, full_size=full_size), indent=2))

    config = XttsConfig()
    config.load_json(str(config_path))
    torch.manual_seed(seed)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(vocab_path))
    model.init_models()
    # Real mel statistics are per-channel log-mel scales; random positive values exercise the division.
    model.mel_stats.copy_(torch.rand(80) + 0.5)
    with torch.no_grad():
        model.gpt.mel_head.bias[model.gpt.stop_audio_token] += stop_logit_bias
    state = {f"xtts.{k}": v for k, v in model.state_dict().items()}
    # Training-only parts the recipe saves alongside, which loading must drop.
    state["dvae.codebook.embed"] = torch.zeros(4, 4)
    state["torch_mel_spectrogram_style_encoder.mel_stft.spectrogram.window"] = torch.hann_window(8)
    ckpt_path = out_dir / "best_checkpoint.pth"
    torch.save({"model": state, "config": config.to_dict(), "step": 0}, ckpt_path)
    return config_path, ckpt_path, vocab_path
