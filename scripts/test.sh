#!/usr/bin/env bash
# Run the whole test suite: sets everything up on first use, starts its own Kafka broker.
#   scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
exec python -m pytest -q -p no:cacheprovider "$@"
