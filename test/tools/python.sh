#!/usr/bin/env bash
# Run a Python helper from test/tools/ with an independent reader stack (pyarrow) installed in a venv.
#
#   test/tools/python.sh read_lake.py LAKE_DIR         # prints JSON on stdout
#   test/tools/python.sh --setup                       # only create / refresh the venv
#
# Another set of packages gets a venv of its own: PYREQUIREMENTS names its requirements file in
# test/tools/, PYVENV its folder in .services/, PYTHON the interpreter (e.g. a newer one that set needs).
#
# The venv lives in .services/pyvenv (git-ignored). It is rebuilt only when requirements.txt or
# python3 changes (both are stamped in the venv), so every run after the first starts at once. A lock
# serialises concurrent test files that would otherwise install into the same venv at the same time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.services/${PYVENV:-pyvenv}"
req="$here/${PYREQUIREMENTS:-requirements.txt}"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

mkdir -p "$root/.services"
# the stamp names the requirements and the interpreter: a changed pin or a new python3 rebuilds the venv
want="$(sha256sum "$req" | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  exec 9>"$venv.lock"
  flock 9
  # another process may have finished the install while this one waited for the lock
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "python.sh: creating $venv (pip install -r $req)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
    echo "$want" >"$stamp"
  fi
  flock -u 9
fi

if [ "${1:-}" = "--setup" ]; then exit 0; fi
script="${1:?usage: python.sh SCRIPT.py [ARGS...]}"
shift
case "$script" in /*) ;; *) script="$here/$script" ;; esac
exec "$venv/bin/python" "$script" "$@"
