#!/usr/bin/env bash
# The tree is clang-formatted (.clang-format): every tracked C++ source and header under src/,
# include/, apps/, bench/, tests/ and examples/ — except the generated Kafka codecs, which the
# generator lays out itself — must come out of clang-format unchanged. Exit 1 with the files
# that differ. `scripts/check-format.sh --fix` (what `make format` runs) formats them in place.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "check-format: clang-format is not installed (Debian: apt-get install clang-format)" >&2
  exit 1
fi
fix=0
[ "${1:-}" = "--fix" ] && fix=1
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- 'src/*.cc' 'src/*.h' 'include/*.h' 'apps/*.cc' 'apps/*.h' \
    'bench/*.cc' 'bench/*.h' 'tests/*.cc' 'tests/*.h' 'examples/*.cc' 'examples/*.h' |
    grep -v '/generated/')
else  # an unpacked source tree without git
  mapfile -t files < <(find src include apps bench tests examples \( -name '*.cc' -o -name '*.h' \) \
    -not -path '*/generated/*' 2>/dev/null | sort)
fi
if [ $fix = 1 ]; then
  printf '%s\0' "${files[@]}" | xargs -0 clang-format -i
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'check-format: not clang-formatted (run make format):\n' >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files are clang-formatted"
