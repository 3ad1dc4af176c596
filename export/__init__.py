"""Build-time exporter: XTTS v2 checkpoint -> versioned ONNX model bundle (torch + coqui-tts)."""
