#!/usr/bin/env bash
# Installs the library from BUILD_DIR into a temporary prefix and builds and runs every project
# under examples/ against it with find_package(Wharf), as a user would. Run by ctest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_dir="${1:?usage: test-examples.sh BUILD_DIR}"
work="$(mktemp -d /tmp/wharf-examples-XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "examples: installing into $work/prefix"
cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
for example in "$root"/examples/*/; do
  name="$(basename "$example")"
  echo "examples: building $name against the installed package"
  cmake -S "$example" -B "$work/build-$name" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$work/configure-$name.log" 2>&1 \
    || { cat "$work/configure-$name.log"; exit 1; }
  cmake --build "$work/build-$name" > "$work/build-$name.log" 2>&1 || { cat "$work/build-$name.log"; exit 1; }
  echo "examples: running $name"
  (cd "$work" && "$work/build-$name/$name" "$work/data-$name")
done
echo "examples: all built and ran"
