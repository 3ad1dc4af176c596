"""Load an XTTS v2 checkpoint exactly as coqui-tts does, for export and for parity tests."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from TTS.tts.configs.xtts_config import XttsConfig
from TTS.tts.models.xtts import Xtts

log = logging.getLogger(__name__)


def load_config(config_path: Path) -> XttsConfig:
    config = XttsConfig()
    config.load_json(str(config_path))
    return config


def load_xtts(config_path: Path, checkpoint_path: Path, vocab_path: Path) -> Xtts:
    """coqui-tts's own loading path: Xtts(config) + load_checkpoint, then eval().

    load_checkpoint already accepts the fine-tuning recipe's trainer checkpoints (it strips the
    `xtts.` key prefix and drops the DVAE / mel-spectrogram training parts), so we add nothing to it.
    """
    config = load_config(config_path)
    model = Xtts(config)  # what init_from_config does; it warns that it is deprecated
    model.load_checkpoint(
        config,
        checkpoint_path=str(checkpoint_path),
        vocab_path=str(vocab_path),
        eval=True,
        use_deepspeed=False,
    )
    model.eval()
    return model


def remove_weight_norm(model: torch.nn.Module) -> None:
    """Fold weight-norm parametrizations into plain weights (same math, exportable graphs).

    load_checkpoint leaves HiFi-GAN's weight norm in place; the dynamo exporter cannot trace it.
    """
    from torch.nn.utils import parametrize

    for module in model.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
