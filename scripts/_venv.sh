# Sourced by the quick-start scripts: use the active virtual environment, or make and
# activate ./.venv (installing Debian's python3-venv first when running as root without it).
if [ -n "${VIRTUAL_ENV:-}" ]; then
  echo "using the active virtual environment $VIRTUAL_ENV"
else
  PY="${PYTHON:-python3}"
  if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "nrps_nb needs Python 3.11 or newer ($PY is $("$PY" --version 2>&1))" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing python3-venv (Debian ships venv separately)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$PY" -m venv .venv
      else
        echo "cannot create a virtual environment: install python3-venv" >&2
        exit 1
      fi
    fi
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
