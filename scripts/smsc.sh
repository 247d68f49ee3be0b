#!/usr/bin/env bash
# Builds the test SMSC (test/smsc: jsmpp's server side, from Maven Central) once per source change and prints
# `export SMSC_CLASSPATH=…` for the SMPP tests and bench:smpp. Needs Java 17+ and Maven.
set -euo pipefail
cd "$(dirname "$0")/../test/smsc"
stamp=$(cat pom.xml src/main/java/smsc/*.java | sha256sum | cut -c1-16)
out="${SMSC_BUILD_DIR:-$HOME/.cache/sms-campaign-orchestrator/smsc-$stamp}"
if [ ! -f "$out/classpath.txt" ]; then
  command -v mvn >/dev/null || { echo "scripts/smsc.sh: Maven (mvn) is needed to build the test SMSC" >&2; exit 1; }
  mkdir -p "$out"
  mvn -q -B compile dependency:build-classpath \
    -Dmdep.outputFile="$out/deps.txt" >&2
  cp -r target/classes "$out/classes" && rm -rf target
  echo "$out/classes:$(cat "$out/deps.txt")" > "$out/classpath.txt"
fi
echo "export SMSC_CLASSPATH='$(cat "$out/classpath.txt")'"
