#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (root, Node 20): apt packages, npm packages,
# build. Each step runs only when something is missing or stale.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(runc conmon catatonit containernetworking-plugins iptables nftables iproute2
  util-linux busybox-static jq file skopeo umoci docker-registry tmux python3)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing packages (${missing[*]}); run as root to install them" >&2
  else
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# npm packages: reinstall when package-lock.json is newer than the installed tree.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# Build when any source is newer than the last build.
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src tsconfig.json tsconfig.build.json package.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  echo "setup: building" >&2
  npx tsc -p tsconfig.build.json
  # Data files the compiled code reads next to itself.
  mkdir -p dist/apiserver/http
  rm -rf dist/apiserver/http/openapi-data
  cp -r src/apiserver/http/openapi-data dist/apiserver/http/openapi-data
  touch "$stamp"
fi
