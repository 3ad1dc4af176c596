# Two commands matter: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCKS := export/requirements.txt requirements-dev.txt pyproject.toml
DEMO_BUNDLE ?= bundles/demo
PORT ?= 8080

.PHONY: help run test test-fast fuzz lint bench clean env ffmpeg qemu chromium demo

help:
	@echo "make run    - install what is missing, build the demo bundle if absent, serve on localhost:$(PORT)"
	@echo "make test   - install what is missing, then ruff, mypy and the whole pytest suite"
	@echo "make test-fast | fuzz | lint | bench | demo | clean"

# One venv holds serving, export and dev tools; it is rebuilt only when a lock file changes,
# so a second `make test` starts in seconds.
$(STAMP): $(LOCKS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.3"
	$(PY) -m pip install --quiet -r export/requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

# torchcodec (coqui-tts's audio loader) needs FFmpeg's shared libraries.
ffmpeg:
	@command -v ffmpeg >/dev/null 2>&1 || { echo "installing ffmpeg (Debian)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null) \
	  || { echo "could not install ffmpeg: run 'apt-get install ffmpeg' as root" >&2; exit 1; }; }

# The int8 parity tests also run on an emulated AVX2-only CPU (qemu-x86_64 -cpu Haswell-v4), where
# onnxruntime takes other integer kernels than on a VNNI CPU.
qemu:
	@command -v qemu-x86_64 >/dev/null 2>&1 || { echo "installing qemu-user (Debian)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null) \
	  || { echo "could not install qemu-user: run 'apt-get install qemu-user' as root" >&2; exit 1; }; }

# The try-it page's test drives Debian's Chromium through Playwright (no browser download); the
# Bengali fonts make its screenshot show Bangla, not boxes.
chromium:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi bengali || { \
	  echo "installing chromium and Bengali fonts (Debian)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-beng-extra >/dev/null) \
	  || { echo "could not install chromium: run 'apt-get install chromium fonts-beng-extra' as root" >&2; exit 1; }; }

env: $(STAMP) ffmpeg qemu chromium

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-fast: lint
	$(VENV)/bin/pytest -m "not slow"

# The property tests with new random examples (make test draws the same ones every run), FUZZ_RUNS times.
FUZZ_RUNS ?= 5
fuzz: env
	for i in $$(seq $(FUZZ_RUNS)); do \
	  HYPOTHESIS_PROFILE=explore $(VENV)/bin/pytest -q $$(grep -rl "^from hypothesis import" tests) || exit 1; done

demo: env
	@if [ ! -f export/__main__.py ]; then echo "The exporter is not built yet (export/__main__.py): no demo bundle." >&2; exit 1; fi
	@test -f $(DEMO_BUNDLE)/int8/manifest.json || $(PY) -m export demo --out $(DEMO_BUNDLE)

# Serves the demo bundle in the foreground; once /health is 200 it registers a demo voice (a
# synthetic clip: the demo model has random weights, so any clip does) and prints two curl lines.
DEMO_TEXT := আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। আজ ২১ ফেব্রুয়ারি।
run: demo
	@if [ ! -f function/gunicorn.conf.py ]; then echo "The serving function is not built yet (function/gunicorn.conf.py)." >&2; exit 1; fi
	@export TTS_MODEL_PATH=$(DEMO_BUNDLE) PORT=$(PORT) TTS_CACHE_DIR=$${TTS_CACHE_DIR:-bundles/cache}; \
	$(VENV)/bin/gunicorn --config function/gunicorn.conf.py & pid=$$!; \
	trap 'kill -TERM $$pid 2>/dev/null; wait $$pid; exit 0' INT TERM; \
	until curl -sf localhost:$(PORT)/health >/dev/null; do kill -0 $$pid 2>/dev/null || exit 1; sleep 1; done; \
	$(PY) -c "import numpy as n, soundfile as s; t = n.arange(72000) / 24000; \
	s.write('bundles/demo-voice.wav', (0.2 * n.sin(2 * n.pi * 150 * t) * (1.2 + n.sin(2 * n.pi * 3 * t))).astype('float32'), 24000)"; \
	key=$${TTS_API_KEYS%%,*}; auth=""; if [ -n "$$key" ]; then auth=" -H 'Authorization: Bearer $$key'"; fi; \
	voice=$$(eval "curl -sf$$auth -F audio=@bundles/demo-voice.wav localhost:$(PORT)/voices" \
	  | $(PY) -c 'import json, sys; print(json.load(sys.stdin)["voice_id"])') || { kill $$pid; exit 1; }; \
	body="{\"text\": \"$(DEMO_TEXT)\", \"voice_id\": \"$$voice\"}"; \
	echo; echo "Serving $(DEMO_BUNDLE) on http://localhost:$(PORT) (Ctrl-C stops): open it in a browser, or try:"; \
	echo "  curl -s localhost:$(PORT)/synthesize$$auth -H 'Content-Type: application/json' -d '$$body' -o speech.wav"; \
	echo "  curl -sN localhost:$(PORT)/synthesize/stream$$auth -H 'Content-Type: application/json' -d '$$body' | ffplay -autoexit -nodisp -i -"; \
	echo; wait $$pid

bench: env
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m bench $(BENCH)

clean:
	rm -rf $(VENV) bundles bench/cache .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
