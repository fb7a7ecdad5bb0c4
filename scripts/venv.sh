#!/usr/bin/env bash
# Creates (or updates) a project-local Python virtual environment from a
# pinned requirements file, and prints its python's path.
#
#   scripts/venv.sh NAME      # .cache/venv/NAME from scripts/requirements/NAME.txt
#
# Environments use pyenv's python3 (3.11) on PATH, or $ONNXLOSS_PYTHON. A
# stamp file holding the requirements' checksum makes a second call with
# unchanged requirements a no-op, so the tests can call it freely.
set -euo pipefail

usage() { echo "usage: $(basename "$0") NAME   (scripts/requirements/NAME.txt)" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in -h|--help) usage ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=$1
req="$root/scripts/requirements/$name.txt"
[ -f "$req" ] || { echo "$(basename "$0"): no $req" >&2; exit 2; }
dir="$root/.cache/venv/$name"
stamp="$dir/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$dir/bin/python"
  exit 0
fi
python=${ONNXLOSS_PYTHON:-python3}
echo "venv.sh: creating $dir from $req" >&2
rm -rf "$dir"
"$python" -m venv "$dir"
"$dir/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$req" >&2
echo "$want" > "$stamp"
echo "$dir/bin/python"
