#!/usr/bin/env bash
# Runs a single-node cluster in the foreground and applies the examples once it is ready.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bin/podrun up --apply-examples examples "$@"
