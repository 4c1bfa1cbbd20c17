#!/usr/bin/env bash
# README quick start, first command: install, build, bring tsov up with a
# private containerd, run a container with `ctr run --snapshotter tsov`, stop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/demo/quickstart.js "$@"
