#!/usr/bin/env bash
# Installs the dfn4 C API: PREFIX/lib/libdfn4.so, PREFIX/lib/libdfn4.a, PREFIX/include/dfn4.h and
# PREFIX/lib/pkgconfig/dfn4.pc (from capi/dfn4.pc.in). Builds the library first (release by default).
#
#   bash scripts/capi/install.sh [--prefix DIR] [--debug]
#
# --prefix: default /usr/local. --debug: install the dev-profile build (what CI tests, faster to build).
# Then: export PKG_CONFIG_PATH=DIR/lib/pkgconfig (unless DIR is a system prefix) and build with
#   cc prog.c $(pkg-config --cflags --libs dfn4)
set -euo pipefail
cd "$(dirname "$0")/../.."

prefix=/usr/local
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --debug) profile=debug; shift ;;
    *) echo "usage: $0 [--prefix DIR] [--debug]" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac

if [ "$profile" = release ]; then
  cargo build --release -p dfn4-capi --lib
else
  cargo build -p dfn4-capi --lib
fi
target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
version=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "dfn4-capi"))')

install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 755 "$target/$profile/libdfn4.so" "$prefix/lib/libdfn4.so"
install -m 644 "$target/$profile/libdfn4.a" "$prefix/lib/libdfn4.a"
install -m 644 capi/include/dfn4.h "$prefix/include/dfn4.h"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" capi/dfn4.pc.in > "$prefix/lib/pkgconfig/dfn4.pc"
echo "installed dfn4 $version ($profile) under $prefix"
