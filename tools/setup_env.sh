#!/usr/bin/env bash
# Set up ltx2 in ./.venv.  `--test` also installs the test oracle: torch (CPU) and Lightricks'
# ltx-core / ltx-pipelines 1.0.0 *without* their declared deps (their torchaudio pin would pull a
# multi-GB CUDA torch); torchaudio keeps only its pure-Python part (see shared/reference/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
"$VPY" -m pip install -q --upgrade pip
"$VPY" -m pip install -q -e .
if [ "${1:-}" = "--test" ]; then
  # cluster: launcher and warm-worker tests (submitit, Ray); search: Optuna; tracking: MLflow (tests/experiment/)
  "$VPY" -m pip install -q -e ".[test,cluster,search,tracking]"
  "$VPY" -m pip install -q --no-deps ltx-core==1.0.0 ltx-pipelines==1.0.0 torchaudio==2.11.0
  # torchaudio's compiled extension targets torch 2.11 and fails beside 2.13: use its Python fallback.
  rm -f "$("$VPY" -c 'import site; print(site.getsitepackages()[0])')"/torchaudio/lib/*.so
  # The gallery's browser test drives the system chromium through Playwright (Playwright's own browser download
  # is not used). Debian/Ubuntu as root: apt-get; elsewhere install chromium yourself (the test skips without it).
  if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    :
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q && apt-get install -y -q chromium || echo "setup_env: chromium not installed (apt-get failed): the browser tests will skip"
  else
    echo "setup_env: no chromium found and cannot apt-get it (not root or no apt): install chromium for the browser tests (they skip without it)"
  fi
fi
