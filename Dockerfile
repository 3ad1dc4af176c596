# syntax=docker/dockerfile:1
# The serving container: Cloud Run with an NVIDIA L4 (TARGET=gpu, the default) or CPU only
# (TARGET=cpu). Build from the repository root:
#   docker build --build-arg TARGET=gpu -t IMAGE .
#
# GPU runtime: onnxruntime-gpu 1.26.0 with CUDA 12.9 and cuDNN 9 from pip wheels
# (function/requirements-gpu.txt). Cloud Run's L4 driver is 535.x (CUDA 12.2); CUDA 12.x
# user-space libraries run on any r525+ driver through CUDA minor-version compatibility, and
# the L4's sm_89 kernels ship prebuilt, so nothing needs the newer driver's PTX JIT.
# onnxruntime-gpu 1.27+ on PyPI is built for CUDA 13, which needs driver >= 580: not usable here.
ARG TARGET=gpu
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: a virtual environment with exactly the lock's wheels (no compilers: binaries only)
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
RUN python -m venv /opt/venv

FROM builder AS deps-cpu
COPY function/requirements.txt function/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: --require-hashes -r function/requirements.txt

FROM builder AS deps-gpu
COPY function/requirements-gpu.txt function/requirements-gpu.txt
RUN /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: --require-hashes -r function/requirements-gpu.txt

# deps-${TARGET} is one of the two stages above (deps-cpu, deps-gpu), not an image to tag.
# hadolint ignore=DL3006
FROM deps-${TARGET} AS deps

# ---- runtime: the interpreter, two shared libraries, the venv and the code; runs as non-root
FROM ${PYTHON_IMAGE} AS runtime
# Exact Debian 12 versions: a rebuild installs what was tested (bump them with the base image).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libsndfile1=1.2.0-1+deb12u1 \
        libgomp1=12.2.0-14+deb12u1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tts \
    && useradd --system --uid 10001 --gid tts --home-dir /home/tts --create-home --shell /usr/sbin/nologin tts

COPY --from=deps /opt/venv /opt/venv

# The pip CUDA libraries live inside the venv; the dynamic loader must find them (the CPU build
# has no such directories, which the loader skips).
ENV PATH=/opt/venv/bin:$PATH \
    NVIDIA_LIBS=/opt/venv/lib/python3.11/site-packages/nvidia
ENV LD_LIBRARY_PATH=$NVIDIA_LIBS/cublas/lib:$NVIDIA_LIBS/cuda_runtime/lib:$NVIDIA_LIBS/cudnn/lib:$NVIDIA_LIBS/cufft/lib:$NVIDIA_LIBS/curand/lib:$NVIDIA_LIBS/cuda_nvrtc/lib:$NVIDIA_LIBS/nvjitlink/lib \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080 \
    TTS_CACHE_DIR=/tmp/tts-cache \
    HOME=/home/tts

WORKDIR /app
# Owned by root, read-only to the service user.
COPY function/ /app/function/

# Numeric, so a runtime that enforces non-root (runAsNonRoot) can verify it.
USER 10001:10001
EXPOSE 8080
# Cloud Run uses its own startup/liveness probes (infra/service.py); this serves `docker run`.
# /health is 503 while the bundle downloads and loads, hence the long start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"]
CMD ["gunicorn", "--config", "function/gunicorn.conf.py"]
