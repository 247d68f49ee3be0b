#!/usr/bin/env bash
# npm start / npm run worker / npm run api / npm run simulator: installs what is missing on a fresh clone,
# resolves the Temporal CLI when this process runs the embedded server, then runs the role.
set -euo pipefail
cd "$(dirname "$0")/.."
role="${1:-all}"
source scripts/ensure-deps.sh
if [ "$role" = "simulator" ]; then
  exec node --import tsx providers/simulator-server.ts
fi
if [ "$role" = "all" ] && [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  eval "$(bash scripts/temporal-binaries.sh cli)"
fi
exec node --import tsx scripts/start.ts "$role"
