#!/usr/bin/env bash
# Resolves the two Temporal binaries this project runs, without any download beyond package registries.
#
# Order, for each binary:
#   1. an explicit path from the environment (TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH);
#   2. a build cached outside the clone ($SMS_ORCHESTRATOR_CACHE, default ~/.cache/sms-campaign-orchestrator);
#   3. a build from registries: the CLI with `go install` (Go module proxy), the Java time-skipping
#      test server and its dependencies from Maven Central;
#   4. neither Go nor Java: print nothing for it, so the TypeScript SDK falls back to its own download.
#
# Prints shell assignments on stdout (eval them); progress goes to stderr.
# Usage: temporal-binaries.sh [cli|test-server|all]   (default all)
set -euo pipefail

# The one place where the versions are pinned.
TEMPORAL_CLI_VERSION=1.5.1            # newest tag that `go install pkg@version` accepts (see shared/TEMPORAL-SETUP.md)
TEMPORAL_TEST_SERVER_VERSION=1.38.0   # io.temporal:temporal-test-server on Maven Central

want=${1:-all}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${SMS_ORCHESTRATOR_CACHE:-$HOME/.cache/sms-campaign-orchestrator}
say() { echo "[temporal-binaries] $*" >&2; }

resolve_cli() {
  if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
    [ -x "$TEMPORAL_CLI_PATH" ] || { say "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file"; return 1; }
    echo "export TEMPORAL_CLI_PATH='$TEMPORAL_CLI_PATH'"; return 0
  fi
  local dir="$cache/temporal-cli-$TEMPORAL_CLI_VERSION"
  if [ ! -x "$dir/temporal" ]; then
    if ! command -v go >/dev/null 2>&1; then
      say "no Go toolchain: the Temporal CLI will come from the SDK's own download (needs internet access)"
      return 0
    fi
    say "building Temporal CLI v$TEMPORAL_CLI_VERSION with go install (first time only; takes minutes)"
    local tmp; tmp=$(mktemp -d "$cache/.cli-build.XXXXXX")
    if ! GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION" >&2; then
      rm -rf "$tmp"
      say "go install of the Temporal CLI failed; set TEMPORAL_CLI_PATH to an existing 'temporal' binary"
      return 1
    fi
    rm -rf "$dir"; mv "$tmp" "$dir"
  fi
  echo "export TEMPORAL_CLI_PATH='$dir/temporal'"
}

resolve_test_server() {
  if [ -n "${TEMPORAL_TEST_SERVER_PATH:-}" ]; then
    [ -x "$TEMPORAL_TEST_SERVER_PATH" ] || { say "TEMPORAL_TEST_SERVER_PATH=$TEMPORAL_TEST_SERVER_PATH is not an executable file"; return 1; }
    echo "export TEMPORAL_TEST_SERVER_PATH='$TEMPORAL_TEST_SERVER_PATH'"; return 0
  fi
  local dir="$cache/test-server-$TEMPORAL_TEST_SERVER_VERSION"
  if [ ! -x "$dir/run-test-server" ]; then
    if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
      say "no Java/Maven: the time-skipping test server will come from the SDK's own download (needs internet access)"
      return 0
    fi
    say "fetching temporal-test-server $TEMPORAL_TEST_SERVER_VERSION and its dependencies from Maven Central"
    local tmp; tmp=$(mktemp -d "$cache/.ts-build.XXXXXX")
    if ! mvn -B -q -f "$here/test-server-pom.xml" -Dtemporal.test.server.version="$TEMPORAL_TEST_SERVER_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >&2; then
      rm -rf "$tmp"
      say "Maven could not fetch the test server; set TEMPORAL_TEST_SERVER_PATH to an executable that takes <port>"
      return 1
    fi
    # One executable taking <port>, like the native test server, so the SDK can run it as 'existing-path'.
    # exec matters: the SDK stops its child with SIGKILL, which a wrapper shell would not pass on.
    cat > "$tmp/run-test-server" <<RUN
#!/bin/sh
exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$dir/lib/*" io.temporal.testserver.TestServer "\$@"
RUN
    chmod +x "$tmp/run-test-server"
    rm -rf "$dir"; mv "$tmp" "$dir"
  fi
  echo "export TEMPORAL_TEST_SERVER_PATH='$dir/run-test-server'"
}

mkdir -p "$cache"
# Concurrent callers (two terminals, CI) wait for one another instead of building twice.
exec 9>"$cache/.lock"
flock 9
case "$want" in
  cli) resolve_cli ;;
  test-server) resolve_test_server ;;
  all) resolve_cli; resolve_test_server ;;
  *) say "usage: $0 [cli|test-server|all]"; exit 2 ;;
esac
