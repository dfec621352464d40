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
# The 1.2.0 oracle (LTX-2.5 and the current numerics): ltx-core / ltx-pipelines 1.2.0 are not on PyPI and need
# another transformers than 1.0.0, so they get a venv of their own, .venv-oracle, driven by tests/oracles/v12.py.
# Wheels: $LTX2_ORACLE_WHEELS (default ~/.cache/ltx2/oracle-1.2.0) if they are there, else built from the official
# repository at the pinned commit when the network allows (and kept there), else the 1.2.0 tests skip with the reason.
ORACLE_COMMIT=400fd31054597515f47125691032c04b1c3ee24e
install_oracle_12() {
  local wheels=${LTX2_ORACLE_WHEELS:-$HOME/.cache/ltx2/oracle-1.2.0} opy=.venv-oracle/bin/python
  if [ -x "$opy" ] && "$opy" -c "import importlib.metadata as m; assert m.version('ltx-core') == '1.2.0'" 2>/dev/null; then
    return 0
  fi
  if ! ls "$wheels"/ltx_core-1.2.0-*.whl "$wheels"/ltx_pipelines-1.2.0-*.whl >/dev/null 2>&1; then
    mkdir -p "$wheels"
    for pkg in ltx-core ltx-pipelines; do
      timeout 300 "$VPY" -m pip wheel -q --no-deps -w "$wheels" \
        "git+https://github.com/Lightricks/LTX-2@$ORACLE_COMMIT#subdirectory=packages/$pkg" 2>/dev/null || true
    done
  fi
  if ! ls "$wheels"/ltx_core-1.2.0-*.whl "$wheels"/ltx_pipelines-1.2.0-*.whl >/dev/null 2>&1; then
    echo "setup_env: no ltx-core 1.2.0 wheels in $wheels and github.com not reachable: the 1.2.0 parity tests will skip" \
      "(build the wheels from a snapshot of Lightricks/LTX-2 at $ORACLE_COMMIT: shared/reference/ltx25/INSTALL.md)"
    return 0
  fi
  [ -x "$opy" ] || "$PY" -m venv .venv-oracle
  "$opy" -m pip install -q --upgrade pip
  "$opy" -m pip install -q torch==2.13.0
  "$opy" -m pip install -q "transformers==5.14.1" accelerate einops scipy av safetensors numpy pillow tqdm openimageio
  "$opy" -m pip install -q --no-deps "$wheels"/ltx_core-1.2.0-*.whl "$wheels"/ltx_pipelines-1.2.0-*.whl torchaudio==2.11.0
  rm -f "$("$opy" -c 'import site; print(site.getsitepackages()[0])')"/torchaudio/lib/*.so
}
if [ "${1:-}" = "--test" ]; then
  # cluster: launcher and warm-worker tests (submitit, Ray); search: Optuna; tracking: MLflow (tests/experiment/)
  "$VPY" -m pip install -q -e ".[test,cluster,search,tracking,hdr]"
  "$VPY" -m pip install -q --no-deps ltx-core==1.0.0 ltx-pipelines==1.0.0 torchaudio==2.11.0
  # torchaudio's compiled extension targets torch 2.11 and fails beside 2.13: use its Python fallback.
  rm -f "$("$VPY" -c 'import site; print(site.getsitepackages()[0])')"/torchaudio/lib/*.so
  install_oracle_12
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
