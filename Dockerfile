# syntax=docker/dockerfile:1
# dlwp's images, both from the committed uv.lock and web/package-lock.json:
#   docker build --target cpu -t dlwp:0.1.0 .       pipelines and `dlwp serve` (the default target)
#   docker build --target gpu -t dlwp:0.1.0-gpu .   training on NVIDIA GPUs
#   docker build --target beam -t dlwp:0.1.0-beam . the workers of Dataflow, Flink or Spark
# Both run as uid 10001 with a read-only root filesystem; only /tmp, /home/dlwp and /var/lib/dlwp
# are written (volumes).

# --- Python environment: /app/.venv, self-contained (the project installed non-editable) ---
FROM python:3.10-slim-bookworm AS venv-base
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/
# The base image's interpreter, never a downloaded one: the runtime stages share the base, so the
# venv's python symlink resolves there. Copy mode because the uv cache is a separate mount.
ENV UV_PYTHON=/usr/local/bin/python3.10 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./

FROM venv-base AS venv-cpu
# The locked dependencies first, in their own layer: source edits do not reinstall them.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-project
COPY contract/ contract/
COPY pipelines/ pipelines/
COPY components/ components/
COPY serving/ serving/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

FROM venv-base AS venv-gpu
# The same lock plus the `gpu` extra: tensorflow[and-cuda], i.e. NVIDIA's CUDA 12.3 and
# cuDNN 8.9 wheels at the exact versions TensorFlow 2.16 was built against.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-project --extra gpu
COPY contract/ contract/
COPY pipelines/ pipelines/
COPY components/ components/
COPY serving/ serving/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --extra gpu

# --- TF.js for the Exporter's parity check in Node and for the demo page ---
# npm only (an LTS Node); the locked tree is pure JavaScript, which Debian's Node 18 then runs.
FROM node:22.12.0-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
# No install scripts: the locked packages need none (core-js's only prints a message).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
COPY web/predict.mjs ./
COPY web/demo/ demo/

# --- What both images share at run time ---
FROM python:3.10-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="dlwp" \
      org.opencontainers.image.description="The universal workflow of machine learning as a TFX training-and-serving service" \
      org.opencontainers.image.version="0.1.0"
# Debian's nodejs (18.x in bookworm) runs web/predict.mjs. Not pinned to an exact version: the
# Debian archive keeps only the newest security build of a package, so a pin would break the
# build at the next security update; the base image tag fixes the release (bookworm).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 dlwp \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
        --home-dir /home/dlwp --shell /usr/sbin/nologin dlwp \
    && install -d -m 0750 -o 10001 -g 10001 /home/dlwp /var/lib/dlwp
ENV PATH=/app/.venv/bin:$PATH \
    HOME=/home/dlwp \
    DLWP_HOME=/var/lib/dlwp \
    KERAS_HOME=/var/lib/dlwp/keras \
    DLWP_WEB_DIR=/app/web \
    DLWP_SERVE_HOST=0.0.0.0 \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=web /web /app/web
WORKDIR /home/dlwp
# /tmp keeps the base image's mode 1777; the other two are 10001's.
VOLUME ["/tmp", "/home/dlwp", "/var/lib/dlwp"]
# 8501: REST, /metrics and the demo page; 8500: gRPC (`dlwp serve`).
EXPOSE 8501 8500
ENTRYPOINT ["dlwp"]
CMD ["--help"]

# --- Training on NVIDIA GPUs ---
# The same slim Python base as cpu, not an nvidia/cuda image: the CUDA and cuDNN user-space
# libraries come from the locked wheels (exactly TensorFlow's versions, hash-checked), the driver
# (libcuda) from the host through the NVIDIA container toolkit, and the venv keeps the one
# interpreter both images share. A CUDA base would add a second copy of the libraries.
FROM runtime AS gpu
LABEL org.opencontainers.image.description="dlwp for training on NVIDIA GPUs (CUDA 12.3, cuDNN 8.9)"
COPY --from=venv-gpu /app/.venv /app/.venv
# Every library directory of the wheels and ptxas/libdevice for XLA, so TensorFlow finds them
# whatever its RPATH covers. The toolkit mounts the driver only for the capabilities asked
# for; which GPUs is left to `--gpus` or the device plugin.
ARG NVIDIA=/app/.venv/lib/python3.10/site-packages/nvidia
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    PATH=$PATH:${NVIDIA}/cuda_nvcc/bin \
    XLA_FLAGS=--xla_gpu_cuda_data_dir=${NVIDIA}/cuda_nvcc \
    LD_LIBRARY_PATH=${NVIDIA}/cublas/lib:${NVIDIA}/cuda_cupti/lib:${NVIDIA}/cuda_nvrtc/lib:${NVIDIA}/cuda_runtime/lib:${NVIDIA}/cudnn/lib:${NVIDIA}/cufft/lib:${NVIDIA}/curand/lib:${NVIDIA}/cusolver/lib:${NVIDIA}/cusparse/lib:${NVIDIA}/nccl/lib:${NVIDIA}/nvjitlink/lib
USER 10001:10001

# --- The workers of a distributed Beam runner (`dlwp compile --beam-image`) ---
# Dataflow, Flink and Spark start their SDK harness with Beam's boot program; the Beam SDK itself
# and dlwp's code (the transforms of TFDV, tf.Transform and TFMA call it) come from the venv,
# the same Beam version (2.59.0) as the boot program.
FROM runtime AS beam
COPY --from=apache/beam_python3.10_sdk:2.59.0 /opt/apache/beam /opt/apache/beam
COPY --from=venv-cpu /app/.venv /app/.venv
ENTRYPOINT ["/opt/apache/beam/boot"]
CMD []
USER 10001:10001

# --- Pipelines and `dlwp serve` (last, so the default target) ---
FROM runtime AS cpu
COPY --from=venv-cpu /app/.venv /app/.venv
USER 10001:10001
