#!/usr/bin/env bash
# One entry point for a fresh machine: sets up .venv (and Graphviz) then runs a job.
#   ./dev.sh demo   - train/inspect the moving-sum RNN demo and write SVG diagrams to out/
#   ./dev.sh test   - the full test suite (extra arguments go to pytest)
#   ./dev.sh docs   - regenerate the diagrams under docs/ shown in the README
#   ./dev.sh setup  - only the set-up
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
PY="$VENV/bin/python"

say() { printf '[dev.sh] %s\n' "$*" >&2; }
as_root() { [ "$(id -u)" = 0 ]; }

apt_install() {  # apt_install PKG... : only as root on a Debian-like system
    command -v apt-get >/dev/null 2>&1 && as_root || return 1
    if [ ! -f /tmp/.graphrnn-apt-updated ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && touch /tmp/.graphrnn-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

find_python() {
    for cand in python3.13 python3.12 python3.11 python3.10 python3; do
        if command -v "$cand" >/dev/null 2>&1 &&
           "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$cand"; return 0
        fi
    done
    return 1
}

setup() {
    local base
    if ! base=$(find_python); then
        say "no Python >= 3.10 found; installing python3"
        apt_install python3 python3-venv python3-pip ||
            { say "install Python >= 3.10 with venv and pip, then rerun"; exit 1; }
        base=$(find_python)
    fi
    if [ ! -x "$PY" ]; then
        say "creating $VENV with $base"
        if ! "$base" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            apt_install python3-venv || { say "install python3-venv, then rerun"; exit 1; }
            "$base" -m venv "$VENV"
        fi
    fi
    # Reinstall only when the project metadata changed.
    local stamp="$VENV/.graphrnn-installed"
    local want
    want=$(cat pyproject.toml | cksum)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        say "installing graphrnn and its dev dependencies into $VENV"
        "$PY" -m pip install -q --upgrade pip >&2 || true
        # the optional extras the demo and the tests use: real data sets (statsmodels), MPI
        # (mpi4py and the mpich wheel, with its mpiexec), music (mido, music21) and plots
        # (matplotlib); in one install when every wheel fits this platform, else one by one
        # (what is missing makes its tests skip)
        if ! "$PY" -m pip install -q -e '.[dev,data,mpi,music,plots]' >&2; then
            "$PY" -m pip install -q -e '.[dev]' >&2
            for extra in data mpi music plots; do
                "$PY" -m pip install -q -e ".[$extra]" >&2 ||
                    say "the [$extra] extra is unavailable here: its tests will skip"
            done
        fi
        echo "$want" > "$stamp"
    fi
    # PyTorch is only a reference for the comparison tests (they skip without it). CI, or
    # GRAPHRNN_TORCH=1, installs the CPU build; a failure here only means those tests skip.
    if [ "${CI:-}" = "true" ] || [ "${GRAPHRNN_TORCH:-}" = "1" ]; then
        if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
            say "installing torch==2.13.0 (reference for comparison tests)"
            "$PY" -m pip install -q torch==2.13.0 >&2 || say "torch unavailable: comparison tests will skip"
        fi
    fi
    if ! command -v dot >/dev/null 2>&1; then
        if apt_install graphviz; then
            say "installed Graphviz (dot)"
        else
            say "Graphviz's 'dot' is missing: SVG rendering is skipped. Install it with"
            say "  apt-get install graphviz   (Debian/Ubuntu)   or   brew install graphviz (macOS)"
        fi
    fi
}

cmd="${1:-demo}"
[ $# -gt 0 ] && shift
case "$cmd" in
    setup) setup ;;
    demo)  setup; exec "$VENV/bin/graphrnn" demo "$@" ;;
    docs)
        setup
        "$VENV/bin/graphrnn" render elman --view folded -o docs/elman_folded.svg
        "$VENV/bin/graphrnn" render elman --view unrolled --steps 3 -o docs/elman_unrolled.svg
        "$VENV/bin/graphrnn" render lstm --view gradients --steps 12 --max-steps 4 \
            --repeat-params -o docs/lstm_gradients.svg
        "$VENV/bin/graphrnn" render lstm-by-hand --view optimized --steps 2 -o docs/lstm_optimized.svg
        for ex in vanishing_gradients forecasting music translation; do
            "$PY" "examples/$ex.py" --quiet --out docs/examples
        done ;;
    test)
        setup
        if [ "${CI:-}" = "true" ]; then export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"; fi
        set +e
        "$PY" -m pytest "$@"
        rc=$?
        if [ $rc -eq 5 ]; then say "pytest collected no tests: failing"; fi
        exit $rc ;;
    *) say "usage: ./dev.sh [demo|test|docs|setup] [args...]"; exit 2 ;;
esac
