# Two commands matter: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCKS := export/requirements.txt requirements-dev.txt
DEMO_BUNDLE ?= bundles/demo
PORT ?= 8080

.PHONY: help run test test-fast lint bench clean env ffmpeg demo

help:
	@echo "make run    - install what is missing, build the demo bundle if absent, serve on localhost:$(PORT)"
	@echo "make test   - install what is missing, then ruff, mypy and the whole pytest suite"
	@echo "make test-fast | lint | bench | demo | clean"

# One venv holds serving, export and dev tools; it is rebuilt only when a lock file changes,
# so a second `make test` starts in seconds.
$(STAMP): $(LOCKS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.3"
	$(PY) -m pip install --quiet -r export/requirements.txt -r requirements-dev.txt
	@touch $@

# torchcodec (coqui-tts's audio loader) needs FFmpeg's shared libraries.
ffmpeg:
	@command -v ffmpeg >/dev/null 2>&1 || { echo "installing ffmpeg (Debian)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null) \
	  || { echo "could not install ffmpeg: run 'apt-get install ffmpeg' as root" >&2; exit 1; }; }

env: $(STAMP) ffmpeg

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-fast: lint
	$(VENV)/bin/pytest -m "not slow"

demo: env
	@if [ ! -f export/__main__.py ]; then echo "The exporter is not built yet (export/__main__.py): no demo bundle." >&2; exit 1; fi
	@test -f $(DEMO_BUNDLE)/manifest.json || $(PY) -m export demo --out $(DEMO_BUNDLE)

run: demo
	@if [ ! -f function/gunicorn.conf.py ]; then echo "The serving function is not built yet (function/gunicorn.conf.py)." >&2; exit 1; fi
	TTS_MODEL_PATH=$(DEMO_BUNDLE) PORT=$(PORT) $(VENV)/bin/gunicorn --config function/gunicorn.conf.py

bench: env
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m bench $(BENCH)

clean:
	rm -rf $(VENV) bundles bench/cache .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
