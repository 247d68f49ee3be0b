#!/usr/bin/env bash
# npm start: installs what is missing on a fresh clone, resolves the Temporal CLI, then runs the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
if [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  eval "$(bash scripts/temporal-binaries.sh cli)"
fi
exec node --import tsx scripts/start.ts
