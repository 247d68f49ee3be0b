#!/usr/bin/env bash
# npm run test:chaos: the crash scenarios at full size (test/chaos/run.ts); sizes from CHAOS_* variables.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
source scripts/ensure-postgres.sh
eval "$(bash scripts/temporal-binaries.sh cli)"
# The SMPP scenario binds to the test SMSC (jsmpp, built with Maven).
eval "$(bash scripts/smsc.sh)"
exec node --import tsx test/chaos/run.ts
