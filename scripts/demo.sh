#!/usr/bin/env bash
# Quick start 1: install nrps_nb into a virtual environment and run the main job on the
# built-in sandbox LMS (a real launch and a paginated roster fetch over loopback HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
python -m pip install -q .
nrps-nb demo
