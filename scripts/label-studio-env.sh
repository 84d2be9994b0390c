#!/usr/bin/env bash
# Create Label Studio's own virtual environment, once, outside the clone.
#
#   bash scripts/label-studio-env.sh      # prints the environment's folder
#
# The integration test (tests/integration/test_label_studio.py) starts a real Label Studio server
# from it. Label Studio pins Django and many other packages of its own, so it never shares the
# daemon's environment. The folder is keyed by the version and the pins (a change of either builds a
# new one); a finished one has a .complete marker.
set -euo pipefail

LABEL_STUDIO_VERSION="${LABEL_STUDIO_VERSION:-1.23.2}"
export TEXTMON_CACHE="${TEXTMON_CACHE:-$HOME/.cache/textmon}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$TEXTMON_CACHE/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
PYTHON="${PYTHON:-python3}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PINS="$(sha256sum "$REPO/scripts/label-studio-constraints.txt" | cut -c1-8)"
VENV="$TEXTMON_CACHE/label-studio-$LABEL_STUDIO_VERSION-$PINS"

if [[ ! -f "$VENV/.complete" ]]; then
  echo "label-studio-env: creating $VENV (label-studio $LABEL_STUDIO_VERSION: about 1 GB, 2 minutes; cached afterwards)" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  # pinned as tested: a fresh resolve once picked a sentry-sdk that label-studio cannot start with
  "$VENV/bin/pip" install -q -c "$REPO/scripts/label-studio-constraints.txt" "label-studio==$LABEL_STUDIO_VERSION"
  "$VENV/bin/pip" check >&2
  # importing its settings makes a data folder: a throwaway one, not the user's
  check_dir="$(mktemp -d)"
  LABEL_STUDIO_BASE_DATA_DIR="$check_dir" "$VENV/bin/python" -c "import label_studio.server" >/dev/null
  rm -rf "$check_dir"
  touch "$VENV/.complete"
fi
echo "$VENV"
