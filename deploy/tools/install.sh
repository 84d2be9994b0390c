#!/usr/bin/env bash
# Install the tools the deployment tests need, once; a rerun with everything present takes well under a second.
#
#   bash deploy/tools/install.sh        # with the project's virtual environment active (or VIRTUAL_ENV set)
#
# Debian packages: promtool (prometheus), amtool (prometheus-alertmanager), chromium and a CJK font (status page test).
# Python packages (exact pins in deploy/tools/requirements.txt): hadolint, kubernetes-validate, compose-spec.
# Kustomize: kubectl's built-in `kubectl kustomize` when kubectl is there, otherwise a kustomize binary
# built with `go install` into $TEXTMON_CACHE/bin.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${TEXTMON_CACHE:-$HOME/.cache/textmon}"
KUSTOMIZE_VERSION="v5.5.0"
PY="${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/}python"

# --- Debian packages -------------------------------------------------------------------------
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
command -v chromium >/dev/null || missing+=(chromium)
[[ -d /usr/share/fonts/truetype/wqy ]] || missing+=(fonts-wqy-zenhei)  # Chinese text in status-page screenshots
if ((${#missing[@]})); then
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "deploy/tools/install.sh: install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
  echo "deploy/tools/install.sh: apt-get install ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian packages start their daemons; the tests run their own on loopback ports.
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
      systemctl stop "$svc" || true
    fi
  done
fi

# --- Python packages -------------------------------------------------------------------------
# One stamp per environment and pin set: a rebuilt environment or a changed pin installs again.
stamp="$CACHE/.deploy-tools-$( (echo "$PY"; cat "$HERE/requirements.txt" "$REPO/scripts/constraints.txt") | sha256sum | cut -c1-12)"
if [[ ! -f "$stamp" ]] || [[ ! -x "$(dirname "$(command -v "$PY")")/hadolint" ]]; then
  "$PY" -m pip install -q -c "$REPO/scripts/constraints.txt" -r "$HERE/requirements.txt"
  mkdir -p "$CACHE" && touch "$stamp"
fi

# --- kustomize ---------------------------------------------------------------------------------
if ! command -v kustomize >/dev/null && ! kubectl kustomize --help >/dev/null 2>&1 \
  && [[ ! -x "$CACHE/bin/kustomize" ]]; then
  if ! command -v go >/dev/null; then
    echo "deploy/tools/install.sh: need kubectl (kubectl kustomize) or Go to build kustomize" >&2
    exit 1
  fi
  echo "deploy/tools/install.sh: building kustomize $KUSTOMIZE_VERSION" >&2
  GOBIN="$CACHE/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
