# shop: common tasks. `just --list` shows them.

# Start the API (dev profile: local PostgreSQL/Redis, or a private PostgreSQL under .data/).
run *ARGS:
    cargo run -p shop-api -- {{ARGS}}

# Every test: unit and black-box API suites against real PostgreSQL and Redis.
test *ARGS:
    scripts/test.sh {{ARGS}}

# Format check and clippy with warnings denied.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Load demo data into the configured database.
seed PRODUCTS="10000":
    cargo run -p shop-api -- seed --products {{PRODUCTS}}

# The load benchmark (see docs/performance.md).
bench *ARGS:
    benches/run.sh {{ARGS}}

# criterion micro-benchmarks of the hot pure code, as a table of medians (`--quick`: shorter).
bench-micro *ARGS:
    benches/micro.sh {{ARGS}}

# Start local PostgreSQL and Redis if they are installed but not running.
services:
    scripts/services.sh

# What CI runs.
ci:
    bash .ci/run
