#!/usr/bin/env bash
# Installs everything the tests need and runs every test of onnxloss.
#
#   scripts/test.sh            # what CI runs
#
# It installs, when missing: Debian's python3-torch, python3-torchvision,
# python3-onnx and python3-scipy (apt-get; needs root or sudo), ONNX
# Runtime's shared library (scripts/install-onnxruntime.sh, into .cache/) and
# staticcheck (into .cache/bin). Then it regenerates the PyTorch fixtures
# live, checks formatting, vets, runs staticcheck and runs `go test ./...`
# with CI=true, under which no test may skip for a missing dependency.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf '\n== %s\n' "$*"; }

python=/usr/bin/python3
packages=(python3-torch python3-torchvision python3-onnx python3-scipy)
if ! "$python" -c 'import torch, torchvision, onnx, scipy, numpy' 2>/dev/null; then
  say "installing ${packages[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to apt-get install ${packages[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${packages[@]}" >/dev/null
fi

say "ONNX Runtime"
scripts/install-onnxruntime.sh

say "Python environments (pinned, project-local)"
for req in scripts/requirements/*.txt; do
  [ -e "$req" ] || continue
  name=$(basename "$req" .txt)
  # peers (torch with its CUDA libraries, 5.7 GB) only regenerates
  # testdata/peers, a developer step; the tests read the committed files.
  [ "$name" = peers ] && continue
  scripts/venv.sh "$name" >/dev/null
done

say "staticcheck"
export GOBIN="$root/.cache/bin"
if [ ! -x "$GOBIN/staticcheck" ]; then
  go install honnef.co/go/tools/cmd/staticcheck@v0.7.0
fi

say "PyTorch fixtures (live)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" scripts/make_torch_fixtures.py "$tmp/torch"
export ONNXLOSS_TORCH_FIXTURES="$tmp/torch"

say "gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
CGO_ENABLED=0 go vet ./...
"$GOBIN/staticcheck" ./...

say "static build without cgo"
CGO_ENABLED=0 go build -o "$tmp/onnxloss-static" ./cmd/onnxloss
"$tmp/onnxloss-static" export bce --out "$tmp/bce.onnx" --quiet

say "go test"
export CI=true
go test -count=1 -timeout 40m ./...
(cd interop/onnxgo && go test -count=1 ./...)

say "fuzz targets, briefly (each runs longer by hand: -fuzztime 10m)"
go test -run '^$' -fuzz '^FuzzResolveRoundTrip$' -fuzztime 10s ./losses
go test -run '^$' -fuzz '^FuzzCommandLine$' -fuzztime 10s ./cmd/onnxloss
go test -run '^$' -fuzz '^FuzzGraphAgainstReference$' -fuzztime 20s ./verify
say "all tests passed"
