#!/usr/bin/env bash
# npm run bench:<name>: installs what is missing, resolves the Temporal CLI, runs bench/<name>.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
eval "$(bash scripts/temporal-binaries.sh cli)"
# bench:smpp talks to the test SMSC (jsmpp, built with Maven).
if [ "$1" = smpp ]; then eval "$(bash scripts/smsc.sh)"; fi
exec node --import tsx "bench/$1.ts"
