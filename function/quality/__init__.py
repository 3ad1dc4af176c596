"""Quality of synthesized speech: signals (function.quality.signals: silence, clipping, loudness),
the policy of thresholds and actions (.policy, read from TTS_QUALITY_* by function.config), and the
verdict with its warnings (.assess). The service, the batch job and the evaluator share them."""
