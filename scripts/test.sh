#!/usr/bin/env bash
# npm test: installs what is missing, resolves both Temporal servers, builds the test SMSC, runs every jest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
source scripts/ensure-postgres.sh
eval "$(bash scripts/temporal-binaries.sh all)"
# The SMSC the SMPP tests bind to (jsmpp's server side, built with Maven).
eval "$(bash scripts/smsc.sh)"
exec npx jest "$@"
