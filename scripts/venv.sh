#!/usr/bin/env bash
# Creates (or updates) a project-local Python virtual environment from a
# pinned requirements file, and prints its python's path.
#
#   scripts/venv.sh [--python PATH] [--system-site-packages] NAME
#                             # .cache/venv/NAME from scripts/requirements/NAME.txt
#
# Environments use pyenv's python3 (3.11) on PATH, or $ONNXLOSS_PYTHON. A
# requirements file may name its own base in a line
#
#   # venv: --python /usr/bin/python3 --system-site-packages
#
# for an environment that adds pinned packages to those of a system
# interpreter (Debian's python3-torch, say); the options on the command line
# do the same. A stamp file holding the checksum of the requirements and the
# options makes a second call with unchanged requirements a no-op, so the
# tests can call it freely.
set -euo pipefail

usage() {
  echo "usage: $(basename "$0") [--python PATH] [--system-site-packages] NAME   (scripts/requirements/NAME.txt)" >&2
  exit 2
}

python=${ONNXLOSS_PYTHON:-python3}
system_site=
parse_option() { # sets $shift_by
  case "$1" in
    --python) [ $# -ge 2 ] || usage; python=$2; shift_by=2 ;;
    --python=*) python=${1#--python=}; shift_by=1 ;;
    --system-site-packages) system_site=--system-site-packages; shift_by=1 ;;
    *) return 1 ;;
  esac
}

name=
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage ;;
    -*) parse_option "$@" || usage; shift "$shift_by" ;;
    *) [ -z "$name" ] || usage; name=$1; shift ;;
  esac
done
[ -n "$name" ] || usage

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
req="$root/scripts/requirements/$name.txt"
[ -f "$req" ] || { echo "$(basename "$0"): no $req" >&2; exit 2; }
# Options named by the requirements file itself.
while read -r line; do
  # shellcheck disable=SC2086 # the directive is a list of words
  set -- ${line#\# venv:}
  while [ $# -gt 0 ]; do
    parse_option "$@" || { echo "$(basename "$0"): $req: unknown venv option $1" >&2; exit 2; }
    shift "$shift_by"
  done
done < <(grep '^# venv:' "$req" || true)
if [ "$python" != python3 ] && ! [ -x "$python" ] && ! command -v "$python" >/dev/null; then
  echo "$(basename "$0"): $name needs the interpreter $python, which is missing" >&2
  exit 1
fi

dir="$root/.cache/venv/$name"
stamp="$dir/.requirements.sha256"
if [ "$python" = "${ONNXLOSS_PYTHON:-python3}" ] && [ -z "$system_site" ]; then
  want=$(sha256sum "$req" | cut -d' ' -f1)
else # the base is part of what the stamp vouches for
  want=$( (cat "$req"; echo "python=$python $system_site") | sha256sum | cut -d' ' -f1)
fi
if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$dir/bin/python"
  exit 0
fi
echo "venv.sh: creating $dir from $req" >&2
rm -rf "$dir"
"$python" -m venv $system_site "$dir"
"$dir/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$req" >&2
echo "$want" > "$stamp"
echo "$dir/bin/python"
