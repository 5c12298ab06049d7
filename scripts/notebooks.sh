#!/usr/bin/env bash
# Not one of the two quick-start commands: install nrps_nb with JupyterLab (and the notebooks' extras), then open
# notebooks/quickstart.ipynb: the sandbox LMS end to end, with the forms. Extra arguments go to
# `jupyter lab` (e.g. --port 8889, --no-browser).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
python -m pip install -q ".[notebooks]"
args=()
if [ "$(id -u)" = 0 ]; then args+=(--allow-root); fi
exec jupyter lab "${args[@]}" "$@" notebooks/quickstart.ipynb
