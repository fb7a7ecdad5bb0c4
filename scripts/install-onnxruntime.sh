#!/usr/bin/env bash
# Installs ONNX Runtime's shared library (libonnxruntime.so.1) from the npm
# package onnxruntime-node into the repository's ignored cache folder, where
# the runtime package finds it. Run with --help for details.
set -euo pipefail

readonly DEFAULT_VERSION=1.24.1
readonly PACKAGE=onnxruntime-node
readonly LIB=libonnxruntime.so.1

prog=$(basename -- "$0")
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)

usage() {
	cat <<EOF
Usage: $prog [--version V] [--dest DIR] [--help]

Installs ONNX Runtime's shared library ($LIB) for onnxloss.

The library comes from the npm package $PACKAGE, which ships the official
ONNX Runtime build for linux x64 and linux arm64 in
package/bin/napi-v6/linux/<arch>/. The tarball is fetched with 'npm pack'
into a temporary folder; 'npm install' is never run, because the package's
install script tries to download CUDA files.

Options:
  --version V   ONNX Runtime version to install (default $DEFAULT_VERSION, or
                \$ONNXLOSS_ORT_VERSION when set). github.com/yalue/onnxruntime_go
                v1.27.0, which onnxloss uses, needs ONNX Runtime 1.24.1 or newer.
  --dest DIR    folder to install into (default:
                <repo>/.cache/onnxruntime/<version>, ignored by git, where
                onnxloss looks for it)
  -h, --help    show this help

Verification:
  For versions with pinned checksums (1.24.1) the tarball's and the library's
  sha256 must match the values in this script. For other versions the tarball
  must match the sha512 integrity that the npm registry publishes for it
  ('npm view $PACKAGE@V dist.integrity'). Any mismatch stops the script with
  exit status 1 and leaves nothing installed: files are unpacked into a
  temporary folder and renamed into place only once verified.

Idempotence:
  When DIR already holds the library and its sha256 matches (the pinned value,
  or the one recorded at install time), the script prints where it is and
  exits 0 without touching the network.

On success it prints the library's path and a line to make onnxloss use it
from anywhere:
  export ONNXLOSS_ORT_LIB=/path/to/$LIB
Inside this checkout no variable is needed: onnxloss finds the cache folder
by walking up from the current directory.

Requirements: npm (with network access to its registry), tar, sha256sum,
sha512sum, base64 and xxd. Linux x64 or arm64 only.
EOF
}

die() {
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}

# pinned_sha256 KIND VERSION ARCH prints the pinned sha256 of the npm tarball
# (KIND=tgz) or of the library inside it (KIND=lib), or nothing when that
# version is not pinned.
pinned_sha256() {
	case "$1/$2/$3" in
	tgz/1.24.1/*) echo 57181cf6e6e711b155c5b942d591fd63ded0b5de5c4922d51fd994e7f6ac2772 ;;
	lib/1.24.1/x64) echo 53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4 ;;
	lib/1.24.1/arm64) echo 7954e8bdedb497f830c6a679e818d98399b7f4d81ade1126c3e0be74d28111ab ;;
	*) ;;
	esac
}

sha256_of() {
	sha256sum -- "$1" | cut -d' ' -f1
}

# sri_sha512 prints a file's sha512 in npm's Subresource Integrity form.
sri_sha512() {
	local hex b64
	hex=$(sha512sum -- "$1")
	hex=${hex%% *}
	b64=$(printf '%s' "${hex}" | xxd -r -p | base64 -w0)
	printf 'sha512-%s\n' "${b64}"
}

version=${ONNXLOSS_ORT_VERSION:-$DEFAULT_VERSION}
dest=
while (($# > 0)); do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	--version)
		(($# >= 2)) || die "--version needs a value, for example --version $DEFAULT_VERSION"
		version=$2
		shift 2
		;;
	--version=*)
		version=${1#*=}
		shift
		;;
	--dest)
		(($# >= 2)) || die "--dest needs a folder"
		dest=$2
		shift 2
		;;
	--dest=*)
		dest=${1#*=}
		shift
		;;
	*)
		die "unknown argument '$1' (see $prog --help)"
		;;
	esac
done

# The version becomes part of a path and an npm spec, so only plain versions
# are accepted.
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
	die "invalid version '$version' (want something like $DEFAULT_VERSION)"
[[ -n $dest ]] || dest=$repo_root/.cache/onnxruntime/$version

os=$(uname -s)
machine=$(uname -m)
[[ $os == Linux ]] || die "only Linux is supported (this is $os); on other systems download ONNX Runtime from its release page and set ONNXLOSS_ORT_LIB to the library's path"
case "$machine" in
x86_64 | amd64) arch=x64 ;;
aarch64 | arm64) arch=arm64 ;;
*) die "unsupported architecture $machine: $PACKAGE ships linux libraries for x86_64 and aarch64 only" ;;
esac

lib_path=$dest/$LIB
sum_path=$lib_path.sha256
want_lib=$(pinned_sha256 lib "$version" "$arch")

report() {
	printf '%s\n' "$lib_path"
	printf 'export ONNXLOSS_ORT_LIB=%q\n' "$lib_path"
}

# Already installed? Trust only a checksum: the pinned one, else the one this
# script recorded after verifying the tarball.
if [[ -f $lib_path ]]; then
	have=$(sha256_of "$lib_path")
	expect=$want_lib
	if [[ -z $expect && -f $sum_path ]]; then
		expect=$(cut -d' ' -f1 <"$sum_path")
	fi
	if [[ -n $expect && $have == "$expect" ]]; then
		printf '%s: ONNX Runtime %s is already installed\n' "$prog" "$version" >&2
		report
		exit 0
	fi
	printf '%s: %s does not match its checksum; reinstalling\n' "$prog" "$lib_path" >&2
fi

command -v npm >/dev/null || die "npm is needed (Debian: apt-get install npm)"
for tool in tar sha256sum sha512sum base64 xxd; do
	command -v "$tool" >/dev/null || die "$tool is needed"
done

tmp=$(mktemp -d)
stage=
cleanup() {
	rm -rf -- "$tmp"
	if [[ -n $stage ]]; then rm -rf -- "$stage"; fi
}
trap cleanup EXIT

printf '%s: fetching %s@%s with npm pack\n' "$prog" "$PACKAGE" "$version" >&2
if ! (cd "$tmp" && npm pack --loglevel=error "$PACKAGE@$version" >"$tmp/pack.out" 2>"$tmp/pack.err"); then
	cat "$tmp/pack.err" >&2
	die "npm pack $PACKAGE@$version failed (is the version published, and is the npm registry reachable?)"
fi
tgz=$tmp/$PACKAGE-$version.tgz
[[ -f $tgz ]] || die "npm pack did not produce $(basename -- "$tgz")"

want_tgz=$(pinned_sha256 tgz "$version" "$arch")
if [[ -n $want_tgz ]]; then
	have=$(sha256_of "$tgz")
	[[ $have == "$want_tgz" ]] ||
		die "checksum mismatch for $PACKAGE-$version.tgz: sha256 $have, pinned $want_tgz; nothing was installed"
else
	want_sri=$(npm view --loglevel=error "$PACKAGE@$version" dist.integrity 2>"$tmp/view.err") || {
		cat "$tmp/view.err" >&2
		die "could not read the published integrity of $PACKAGE@$version from the npm registry"
	}
	[[ $want_sri == sha512-* ]] || die "the npm registry published no sha512 integrity for $PACKAGE@$version (got '$want_sri')"
	have=$(sri_sha512 "$tgz")
	[[ $have == "$want_sri" ]] ||
		die "checksum mismatch for $PACKAGE-$version.tgz: $have, npm registry says $want_sri; nothing was installed"
fi

member=package/bin/napi-v6/linux/$arch/$LIB
tar -xzf "$tgz" -C "$tmp" "$member" 2>"$tmp/tar.err" || {
	cat "$tmp/tar.err" >&2
	die "$PACKAGE@$version has no $member"
}
have_lib=$(sha256_of "$tmp/$member")
if [[ -n $want_lib && $have_lib != "$want_lib" ]]; then
	die "checksum mismatch for $member: sha256 $have_lib, pinned $want_lib; nothing was installed"
fi

# Stage inside the destination so that the final renames stay on one file
# system and are atomic. Only our own files are replaced: --dest may name a
# folder that holds other things.
mkdir -p -- "$dest"
stage=$(mktemp -d "$dest/.install-onnxruntime.XXXXXX")
cp -- "$tmp/$member" "$stage/$LIB"
chmod 0644 "$stage/$LIB"
printf '%s  %s\n' "$have_lib" "$LIB" >"$stage/$LIB.sha256"
# The checksum file goes first: a library without a matching checksum file is
# reinstalled next time, never trusted.
mv -f -- "$stage/$LIB.sha256" "$sum_path"
mv -f -- "$stage/$LIB" "$lib_path"
rmdir -- "$stage"
stage=

printf '%s: installed ONNX Runtime %s (linux %s)\n' "$prog" "$version" "$arch" >&2
report
