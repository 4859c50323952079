#!/usr/bin/env bash
# Install what the local stack and the tests need (`make deps`). Idempotent: each step checks
# first and is skipped when already done, so a warm run takes about a second.
#
#   1. Debian packages: redis-server, clickhouse-server (18.16), kcat, prometheus (promtool),
#      plus java/maven/python3.11-venv if those are missing. Needs root or passwordless sudo.
#      Package scripts are kept from starting services (policy-rc.d), so nothing grabs the
#      ports `aiqleads up` uses.
#   2. .venv with `pip install -e '.[dev]'`, redone when pyproject.toml changes.
#   3. The Kafka broker jars, resolved by Maven from infra/deploy/kafka/pom.xml into ~/.cache/aiqleads.
#   4. stripe-mock (go install, into .venv/bin).
#
# Environment: PYTHON (default python3.11), VENV (default .venv), STRIPE_MOCK_VERSION.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
STRIPE_MOCK_VERSION=${STRIPE_MOCK_VERSION:-v0.203.0}
APT_PACKAGES=(redis-server clickhouse-server kcat prometheus chromium fonts-liberation)  # chromium: browser tests

log() { printf '[deps] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# --- 1. Debian packages ---------------------------------------------------------------------
missing=()
if command -v dpkg-query >/dev/null; then
    for pkg in "${APT_PACKAGES[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || missing+=(maven)
    if ! command -v "$PYTHON" >/dev/null; then
        missing+=(python3.11 python3.11-venv)
    elif ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=(python3.11-venv)  # Debian splits venv/ensurepip out of the interpreter
    fi
else
    for bin in redis-server clickhouse-server kcat promtool java mvn "$PYTHON"; do
        command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
    done
    [ ${#missing[@]} -eq 0 ] || die "not a Debian system; install these yourself: ${missing[*]}"
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO=(sudo)
    else
        die "missing packages; run: sudo apt-get install --no-install-recommends ${missing[*]}"
    fi
    log "installing ${missing[*]} (apt)"
    # Package scripts would start redis-server and clickhouse-server as system services on
    # 6379, 9000 and 8123; exit code 101 from policy-rc.d tells invoke-rc.d not to.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
        "${SUDO[@]}" chmod 755 "$policy"
        trap '"${SUDO[@]}" rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" >/dev/null
fi

# --- 2. Python virtualenv -------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
want="$(cat pyproject.toml "$VENV/pyvenv.cfg" | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.aiqleads-installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$VENV/bin/aiqleads" ]; then
    log "pip install -e '.[dev]' into $VENV"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    printf '%s\n' "$want" >"$stamp"
fi

# --- 3. Kafka broker jars -------------------------------------------------------------------
"$VENV/bin/python" -m infra.stack

# --- 4. stripe-mock -------------------------------------------------------------------------
gobin="$(cd "$VENV/bin" && pwd)"
GO=$(command -v go || echo /usr/local/go/bin/go)
if [ ! -x "$GO" ]; then
    log "error: no Go toolchain, so no stripe-mock (the checkout tests and aiqleads up need it)"
    exit 1
else
    have="$( { "$GO" version -m "$gobin/stripe-mock" 2>/dev/null || true; } \
        | awk '$1 == "mod" { print $3 }')"
    if [ "$have" != "$STRIPE_MOCK_VERSION" ]; then
        log "go install stripe-mock@$STRIPE_MOCK_VERSION into $gobin (first time ~1 min)"
        if ! GOBIN="$gobin" GOFLAGS=-buildvcs=false "$GO" install \
            "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"; then
            log "error: stripe-mock did not install (the checkout tests and aiqleads up need it)"
            exit 1
        fi
    fi
fi

log "ready"
