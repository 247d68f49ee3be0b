#!/usr/bin/env bash
# npm test: installs what is missing, resolves both Temporal servers, runs every jest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
source scripts/ensure-postgres.sh
eval "$(bash scripts/temporal-binaries.sh all)"
exec npx jest "$@"
