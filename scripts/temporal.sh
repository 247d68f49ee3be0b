#!/usr/bin/env bash
# npm run temporal -- <args>: the Temporal CLI this project built (scripts/temporal-binaries.sh), pointed at the
# product's server: TEMPORAL_ADDRESS when set, else the embedded one on 127.0.0.1:$TEMPORAL_PORT (7233).
# An --address among the arguments wins. Example: npm run temporal -- workflow list --query 'BulkStatus="PAUSED"'
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/temporal-binaries.sh cli)"
if [ -z "${TEMPORAL_CLI_PATH:-}" ]; then
  echo "no Temporal CLI: install Go (or set TEMPORAL_CLI_PATH) and run again" >&2
  exit 1
fi
address="${TEMPORAL_ADDRESS:-127.0.0.1:${TEMPORAL_PORT:-7233}}"
for arg in "$@"; do
  case "$arg" in --address|--address=*) exec "$TEMPORAL_CLI_PATH" "$@" ;; esac
done
# --address is a flag of the subcommands, so it goes after them (the CLI accepts flags after positional args).
exec "$TEMPORAL_CLI_PATH" "$@" --address "$address" --namespace "${TEMPORAL_NAMESPACE:-default}"
