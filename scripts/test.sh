#!/usr/bin/env bash
# The whole suite: static checks, unit tests, then end-to-end tests against the real stack.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit
npx eslint src test
# Test images for the end-to-end tests, built once (offline, from Debian packages).
if [ ! -f .cache/test-images/web.oci.tar ]; then
  mkdir -p .cache/test-images
  ../shared/tools/make-test-images .cache/test-images >/dev/null
fi
units=$(find src -name '*.test.ts' | sort)
e2e=$(find test/e2e -name '*.test.ts' | sort)
# One node:test run, so the runner prints one summary for the whole suite. e2e files run
# with isolation of their own clusters; concurrency 2 matches the 2-core machines.
exec node --import tsx --test --test-concurrency=2 --test-reporter=spec $units $e2e
