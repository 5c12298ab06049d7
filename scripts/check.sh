#!/usr/bin/env bash
# Quick start 2: install everything the tests need, then run ruff, mypy and the whole suite.
# .ci/run calls this script; CI=true makes browser/notebook/third-party tests fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
python -m pip install -q -e ".[test]"
echo "== ruff"; ruff format --check . && ruff check .
echo "== mypy"; mypy
echo "== pytest"; python -m pytest
