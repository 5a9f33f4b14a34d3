#!/usr/bin/env bash
# Runs every test: unit tests of each crate and the black-box API suites against a real
# PostgreSQL and Redis (started locally when they are installed but not running).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo test --workspace --all-targets "$@"
