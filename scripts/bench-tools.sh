#!/usr/bin/env bash
# Tools only the benchmarks need (`make bench`), kept out of `make deps` so CI does not build
# them: the HTTP load generator oha, built from crates.io into .aiqleads/tools (first run
# only, a few minutes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OHA_VERSION=${OHA_VERSION:-1.16.0}
root=.aiqleads/tools
if [ -x "$root/bin/oha" ] && "$root/bin/oha" --version | grep -q "$OHA_VERSION"; then
    exit 0
fi
command -v cargo >/dev/null || { echo "[bench-tools] cargo is needed to build oha" >&2; exit 1; }
echo "[bench-tools] building oha $OHA_VERSION (cargo install, first run only)" >&2
cargo install oha --version "$OHA_VERSION" --locked --root "$root" --quiet
