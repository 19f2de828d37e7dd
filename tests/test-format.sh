#!/usr/bin/env bash
# tests/test-format.sh - the C and OpenCL sources keep the one style of .clang-format (issue 15):
# clang-format --dry-run --Werror over every tracked *.c, *.h and *.cl file of the source tree.
# Exit 77 (skipped) where clang-format or git is missing or the tree is not a git checkout;
# scripts/test.sh installs clang-format, so CI runs it. To reformat: clang-format -i FILE...
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command -v clang-format >/dev/null || { echo "format: clang-format is not installed; skipped"; exit 77; }
command -v git >/dev/null && git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
  { echo "format: $root is not a git checkout; skipped"; exit 77; }
mapfile -t files < <(git -C "$root" ls-files '*.c' '*.h' '*.cl')
[ ${#files[@]} -gt 0 ] || { echo "format: no sources found under $root"; exit 1; }
bad=()
for f in "${files[@]}"; do
  [ -f "$root/$f" ] || continue
  (cd "$root" && clang-format --dry-run --Werror "$f" >/dev/null 2>&1) || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "format: ${#bad[@]} of ${#files[@]} files differ from .clang-format (clang-format -i to fix):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "format: ${#files[@]} files follow .clang-format"
