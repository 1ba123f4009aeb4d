#!/usr/bin/env bash
# Include layering (ARCHITECTURE.md "Layers"): every #include "x/..." in a module may name only
# its own module or the modules below it. Exit 1 with each offending line.
#   base < io < kafka/protocol < storage < kafka/group < kafka/server < admin < broker
#   < kafka/client < patterns/* < cli
# The pattern library may use the broker (its embedded transport hosts one in-process); nothing
# below patterns may include patterns/ or the public library headers beyond wharf/error.h,
# wharf/result.h, wharf/clock.h and wharf/lag.h (the shared error and clock types, and the
# header-only lag and skew arithmetic).
set -euo pipefail
cd "$(dirname "$0")/.."
rank() {
  case "$1" in
    base) echo 0 ;; io) echo 1 ;; kafka/protocol) echo 2 ;; storage) echo 3 ;; kafka/group) echo 4 ;;
    kafka/server) echo 5 ;; admin) echo 6 ;; broker) echo 7 ;; kafka/client) echo 8 ;;
    patterns/*) echo 9 ;; cli) echo 10 ;;
    *) echo -1 ;;
  esac
}
module_of() {  # src/kafka/server/x.cc -> kafka/server ; src/patterns/core/x.cc -> patterns/core
  local rel=${1#src/}
  case "$rel" in
    kafka/*|patterns/*) echo "$rel" | cut -d/ -f1-2 ;;
    *) echo "$rel" | cut -d/ -f1 ;;
  esac
}
bad=0
while IFS= read -r file; do
  mod=$(module_of "$file")
  r=$(rank "$mod")
  [ "$r" -lt 0 ] && continue
  while IFS= read -r line; do
    inc=$(echo "$line" | sed -E 's/^[[:space:]]*#include "([^"]+)".*/\1/')
    case "$inc" in
      wharf/error.h|wharf/result.h|wharf/clock.h|wharf/lag.h) continue ;;
      wharf/*) if [ "$r" -lt 9 ]; then echo "$file: includes public library header $inc"; bad=1; fi; continue ;;
    esac
    case "$inc" in */*) ;; *) continue ;; esac
    target=$(module_of "src/$inc")
    tr=$(rank "$target")
    [ "$tr" -lt 0 ] && continue
    if [ "$tr" -gt "$r" ]; then
      echo "$file: $mod includes $inc ($target is above it)"
      bad=1
    fi
    # Leaves of the pattern library do not include each other, except through core and the
    # kafka transport that the embedded one wraps.
    if [ "$r" -eq 9 ] && [ "$tr" -eq 9 ] && [ "$target" != "$mod" ] && [ "$target" != patterns/core ] &&
       ! { [ "$mod" = patterns/embedded ] && [ "$target" = patterns/kafka ]; } &&
       ! [[ "$target" == patterns/sql ]]; then
      echo "$file: $mod includes $inc (another leaf of the library)"
      bad=1
    fi
  done < <(grep -E '^[[:space:]]*#include "' "$file" || true)
done < <(git ls-files 'src/*.h' 'src/*.cc'; git ls-files --others --exclude-standard 'src/*.h' 'src/*.cc')
# Applications (apps/) use the library as its users do: public headers only (<wharf/...>), never
# the broker's or the library's internals under src/.
while IFS= read -r file; do
  while IFS= read -r line; do
    inc=$(echo "$line" | sed -E 's/^[[:space:]]*#include [<"]([^">]+)[">].*/\1/')
    case "$inc" in
      base/*|io/*|kafka/*|storage/*|admin/*|broker/*|patterns/*|cli/*)
        echo "$file: an application includes the internal header $inc"; bad=1 ;;
    esac
  done < <(grep -E '^[[:space:]]*#include' "$file" || true)
done < <(git ls-files 'apps/*.h' 'apps/*.cc'; git ls-files --others --exclude-standard 'apps/*.h' 'apps/*.cc')
if [ "$bad" -ne 0 ]; then
  echo "check-layering: upward includes found (see ARCHITECTURE.md, Layers)" >&2
  exit 1
fi
echo "check-layering: every include points down"
