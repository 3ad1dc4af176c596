# syntax=docker/dockerfile:1
# The serving container: Cloud Run with an NVIDIA L4 (TARGET=gpu, the default) or CPU only
# (TARGET=cpu). Build from the repository root:
#   docker build --build-arg TARGET=gpu -t IMAGE .
#
# GPU runtime: onnxruntime-gpu 1.26.0 with CUDA 12.9 and cuDNN 9 from pip wheels
# (function/requirements-gpu.txt). Cloud Run's L4 driver is 535.x (CUDA 12.2); CUDA 12.x
# user-space libraries run on any r525+ driver through CUDA minor-version compatibility.
# onnxruntime-gpu 1.26 ships kernels for sm_86 and sm_90, none for sm_89 (the L4): the L4 runs the
# sm_86 build, since a cubin built for compute capability 8.6 runs on any 8.x device with x >= 6
# (https://docs.nvidia.com/cuda/cuda-c-programming-guide/index.html#binary-compatibility), so
# nothing needs the PTX JIT or a newer driver.
# onnxruntime-gpu 1.27+ on PyPI is built for CUDA 13, which needs driver >= 580: not usable here.
ARG TARGET=gpu
# Pinned by digest: the tag moves with every Debian and Python point release, and the apt pins
# below must match the Debian snapshot the image was built from. To move to a newer base:
#   docker buildx imagetools inspect python:3.11-slim-bookworm      # the index digest
#   docker run --rm python:3.11-slim-bookworm@sha256:NEW sh -c \
#     'grep snapshot /etc/apt/sources.list.d/debian.sources; apt-get update -qq; apt-cache policy libsndfile1 libgomp1'
# then update the digest here and in cloudbuild.yaml (_PYTHON_IMAGE), and the two versions below.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

# ---- builder: a virtual environment with exactly the lock's wheels (no compilers: binaries only)
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
# /opt/venv/site-packages: a version-free path to the venv's site-packages (derived from the
# interpreter, so the image's Python minor version is written down nowhere else).
RUN python -m venv /opt/venv \
    && ln -s "$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" /opt/venv/site-packages \
    && test -d /opt/venv/site-packages

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
# Exact Debian 12 versions from the Debian snapshot the pinned base image was built from (its
# debian.sources names it in a comment): apt reads that snapshot instead of the moving archive,
# so these versions stay installable however far Debian moves on (snapshot Release files are
# past their Valid-Until, hence the option). Bump them with the base image.
RUN sed -i -E '/^URIs: http:\/\/deb\.debian\.org\//d; s|^# (http://snapshot\.debian\.org/archive/[^ ]+)$|URIs: \1|' \
        /etc/apt/sources.list.d/debian.sources \
    && grep -q '^URIs: http://snapshot\.debian\.org/' /etc/apt/sources.list.d/debian.sources \
    && apt-get -o Acquire::Check-Valid-Until=false update \
    && apt-get install -y --no-install-recommends \
        libsndfile1=1.2.0-1+deb12u1 \
        libgomp1=12.2.0-14+deb12u1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tts \
    && useradd --system --uid 10001 --gid tts --home-dir /home/tts --create-home --shell /usr/sbin/nologin tts

COPY --from=deps /opt/venv /opt/venv

# The pip CUDA libraries live inside the venv; the dynamic loader must find them (the CPU build
# has no such directories, which the loader skips). The driver's own libraries (libcuda) come from
# the platform: Cloud Run preinstalls the L4 driver (cloud.google.com/run/docs/configuring/services/gpu)
# and Google's GPU runtimes mount it at /usr/local/nvidia/lib64 (the accelerator device plugin's
# container path: github.com/GoogleCloudPlatform/container-engine-accelerators, cmd/nvidia_gpu).
ENV PATH=/opt/venv/bin:$PATH \
    NVIDIA_LIBS=/opt/venv/site-packages/nvidia
ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib64:$NVIDIA_LIBS/cublas/lib:$NVIDIA_LIBS/cuda_runtime/lib:$NVIDIA_LIBS/cudnn/lib:$NVIDIA_LIBS/cufft/lib:$NVIDIA_LIBS/curand/lib:$NVIDIA_LIBS/cuda_nvrtc/lib:$NVIDIA_LIBS/nvjitlink/lib \
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

# ---- lambda: the CPU runtime on AWS Lambda, unchanged but for the AWS Lambda Web Adapter
# Build with the CPU dependencies (Lambda has no GPU):
#   docker build --build-arg TARGET=cpu --target lambda -t IMAGE .
# The adapter is a Lambda extension: Lambda starts it from /opt/extensions/ beside the image's CMD
# (gunicorn), it polls /health until the model is ready, then turns each invocation into an HTTP
# request to the app; outside Lambda it never runs. Pinned by version and by digest: the 0.9.1
# image index digest as recorded by several independent public Dockerfiles (not read from the
# registry here: this project's build machine has no route to public.ecr.aws). Confirm it, or move
# to a newer release, with
#   docker buildx imagetools inspect public.ecr.aws/awsguru/aws-lambda-adapter:0.9.1
# and check the AWS_LWA_* variables below against that release's documentation.
FROM runtime AS lambda
COPY --from=public.ecr.aws/awsguru/aws-lambda-adapter:0.9.1@sha256:46d6625e68cbbdd2efab4a20245977664513f13ffef47915b000d431adcea0b4 /lambda-adapter /opt/extensions/lambda-adapter
# Lambda has no GPU: an image built with the GPU lock (gigabytes of CUDA libraries) is refused here.
RUN test ! -e /opt/venv/site-packages/nvidia \
    || { echo "build the lambda target with --build-arg TARGET=cpu" >&2; exit 1; }
# The adapter reads PORT (8080), as gunicorn does. Readiness: /health answers 503 while the model
# loads, which the adapter counts as not ready (healthy is below 500). The model load outlasts
# Lambda's 10 s init phase: with async init the adapter ends init at 9.8 s and the first
# invocation waits for readiness instead of Lambda restarting the init. Responses stream through
# the Function URL (RESPONSE_STREAM): /synthesize/stream and /v1/audio/speech send audio as it is
# made. Non-HTTP events (the batch schedule) are posted to /events (function/http/routes_events.py).
# Lambda runs the image as its own user with a read-only file system but for /tmp: HOME too.
ENV AWS_LWA_READINESS_CHECK_PATH=/health \
    AWS_LWA_ASYNC_INIT=true \
    AWS_LWA_INVOKE_MODE=response_stream \
    AWS_LWA_PASS_THROUGH_PATH=/events \
    HOME=/tmp

# ---- the default target (docker builds the last stage when no --target is given): the Cloud Run
# image, exactly `runtime`, so `docker build --build-arg TARGET=...` keeps building what it did.
FROM runtime AS default
