#!/usr/bin/env bash
# Package jobcarbon for a machine without Debian's libraries (the GPU machine of
# docs/gpu-validation.md): a stripped copy of the binary, every shared library it needs (ldd),
# the rest of the same glibc (libpthread, libdl, librt, ... which libnvidia-ml.so.1 may ask for:
# they must come from the same glibc as libc.so.6) AND glibc's dynamic loader, run as
#   bundle/lib/ld-linux-x86-64.so.2 --library-path bundle/lib bundle/jobcarbon ...
# by the wrapper bundle/jobcarbon.sh, so it runs whatever glibc the host has. Then the validation
# scripts, so the bundle is all the GPU machine needs:
#   bash BUNDLE/validate.sh BUNDLE
# NVML (libnvidia-ml.so.1) is never bundled: it is the host driver's, found through the host's
# library directories or jobcarbon's --nvml-lib.
#
# Usage: bench/gpu/make-bundle.sh [--jobcarbon build/jobcarbon] [--out build-gpu-bundle]
#   --out must be a new or empty directory (or one made by this script, which is replaced).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BIN=$SRC/build/jobcarbon
DAEMON=
OUT=$SRC/build-gpu-bundle
while (($#)); do
  case $1 in
    --jobcarbon) BIN=$2; shift ;;
    --jobcarbond) DAEMON=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "make-bundle.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
DAEMON=${DAEMON:-$(dirname "$BIN")/jobcarbond}
[[ -x $BIN ]] || { echo "make-bundle.sh: no jobcarbon binary at $BIN (build it, or --jobcarbon)" >&2; exit 1; }
if [[ -e $OUT && ! -f $OUT/.jobcarbon-bundle && -n $(ls -A "$OUT") ]]; then
  echo "make-bundle.sh: $OUT exists and is not a bundle; refusing to replace it" >&2
  exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT/lib"
touch "$OUT/.jobcarbon-bundle"

# The binary, stripped: the debug information of a RelWithDebInfo build is most of its size.
cp "$BIN" "$OUT/jobcarbon"
strip --strip-all "$OUT/jobcarbon"
chmod 0755 "$OUT/jobcarbon"

# Every library ldd resolves ("name => /path (addr)") and the loader ("/lib64/ld-linux... (addr)").
loader=
libc=
while read -r first arrow path _; do
  if [[ $arrow == "=>" && $path == /* ]]; then
    cp -L "$path" "$OUT/lib/$first"
    if [[ $first == libc.so.6 ]]; then libc=$path; fi
  elif [[ $first == /*ld-linux* ]]; then
    loader=$first
  elif [[ $arrow == "=>" ]]; then
    echo "make-bundle.sh: ldd cannot resolve $first" >&2
    exit 1
  fi
done < <(ldd "$BIN"; if [[ -x $DAEMON ]]; then ldd "$DAEMON"; fi)
[[ -n $loader && -n $libc ]] || { echo "make-bundle.sh: no loader or libc in ldd $BIN" >&2; exit 1; }
cp -L "$loader" "$OUT/lib/$(basename "$loader")"
# The rest of glibc, from libc's own directory, whether or not jobcarbon needs them: a library
# loaded later (NVML, an NSS module) that asks for one must get this glibc's, not the host's.
libdir=$(dirname "$(readlink -f "$libc")")
for lib in libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1 libanl.so.1 \
  libresolv.so.2 libnss_files.so.2 libnss_dns.so.2; do
  if [[ -e $libdir/$lib && ! -e $OUT/lib/$lib ]]; then cp -L "$libdir/$lib" "$OUT/lib/$lib"; fi
done
LOADER_NAME=$(basename "$loader")

cat >"$OUT/jobcarbon.sh" <<EOF
#!/bin/sh
# jobcarbon with its own glibc and loader (made by bench/gpu/make-bundle.sh). The libraries of
# LD_LIBRARY_PATH come after the bundle's, so that a driver's libnvidia-ml.so.1 found only
# there is still found (the loader's --library-path replaces LD_LIBRARY_PATH).
# Only shell built-ins: the host may lack even coreutils. Run it by its path, not via a symlink.
case \$0 in */*) here=\${0%/*} ;; *) here=. ;; esac
here=\$(cd "\$here" && pwd)
exec "\$here/lib/$LOADER_NAME" --argv0 jobcarbon --library-path "\$here/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" "\$here/jobcarbon" "\$@"
EOF
chmod 0755 "$OUT/jobcarbon.sh"
# The node agent, when built beside jobcarbon: the same way, with its own wrapper.
if [[ -x $DAEMON ]]; then
  cp "$DAEMON" "$OUT/jobcarbond"
  strip --strip-all "$OUT/jobcarbond"
  chmod 0755 "$OUT/jobcarbond"
  sed -e 's/--argv0 jobcarbon /--argv0 jobcarbond /' -e 's|"\$here/jobcarbon" "\$@"|"\$here/jobcarbond" "\$@"|' \
    "$OUT/jobcarbon.sh" >"$OUT/jobcarbond.sh"
  chmod 0755 "$OUT/jobcarbond.sh"
fi

# The validation scripts travel with the bundle.
cp "$HERE/validate.sh" "$HERE/validate.py" "$HERE/nvml_reader.py" "$HERE/train_resnet50.py" \
  "$HERE/agent_validate.py" "$OUT/"
{
  echo "jobcarbon bundle made $(date -u +%Y-%m-%dT%H:%M:%SZ) from $BIN"
  echo "glibc: $(ldd --version | head -1)"
  echo "run: bash $(basename "$OUT")/jobcarbon.sh --version; validate: bash $(basename "$OUT")/validate.sh $(basename "$OUT")"
  (cd "$OUT" && ls -l jobcarbon lib)
} >"$OUT/MANIFEST.txt"

# Check: it runs, and the process maps only the bundle's libraries (nothing of this host's).
"$OUT/jobcarbon.sh" --version >/dev/null
# shellcheck disable=SC2016 # $PPID is the child shell's: jobcarbon, whose maps are wanted
maps=$("$OUT/jobcarbon.sh" run -q --ledger "$OUT/.check-ledger.db" -- sh -c 'cat /proc/$PPID/maps')
rm -f "$OUT/.check-ledger.db"*
foreign=$(printf '%s\n' "$maps" | awk '$6 ~ /\.so/ {print $6}' | sort -u | grep -v "^$(readlink -f "$OUT")/lib/" || true)
if [[ -n $foreign ]]; then
  echo "make-bundle.sh: the bundled jobcarbon maps libraries from outside the bundle:" >&2
  echo "$foreign" >&2
  exit 1
fi
size=$(du -sk "$OUT" | cut -f1)
echo "bundle: $OUT ($((size / 1024)) MiB, $(find "$OUT/lib" -type f | wc -l) libraries; only its own libraries mapped)"
