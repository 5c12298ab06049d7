#!/usr/bin/env bash
# Quick start 2: install everything the tests need, then run ruff, mypy and the whole suite.
# .ci/run calls this script; CI=true makes browser/notebook/third-party tests fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
python -m pip install -q -e ".[test]"
# The widget tests also run the forms in an ipykernel 6 kernel (the venv has 7): a copy of it
# beside the venv, put first on that kernel's PYTHONPATH (tests/test_widgets_kernel.py).
IPK6="$(python -c 'import sys; print(sys.prefix)')/ipykernel6"
if [ ! -d "$IPK6/ipykernel" ]; then
  python -m pip install -q --no-deps --target "$IPK6" "ipykernel==6.29.5" "nest_asyncio==1.6.0"
fi
# The browser tests drive Debian's Chromium through Playwright (no browser download: never
# `playwright install`). Install it when missing and we may (root, apt); otherwise those tests
# skip, or fail under CI=true.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium is missing and cannot be installed here (needs root and apt-get)" >&2
  fi
fi
echo "== ruff"; ruff format --check . && ruff check .
echo "== mypy"; mypy
echo "== pytest"; python -m pytest
