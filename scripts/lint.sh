#!/usr/bin/env bash
# `npm run lint`: typescript-eslint (a small strict rule set, eslint.config.mjs), the layering rules between src/
# rooms (.dependency-cruiser.cjs), and clang-format for the C in bpf/ and the C++ in native/ (their .clang-format).
# Exits non-zero on the first kind of problem found, after printing it.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0

npx --no-install depcruise src --config .dependency-cruiser.cjs --output-type err || status=1
npx --no-install eslint --max-warnings 0 . || status=1

# C and C++ sources we write (vmlinux.h is generated from the kernel's BTF).
mapfile -t c_files < <(git ls-files --cached --others --exclude-standard -- 'bpf/*.c' 'bpf/*.h' 'native/src/*.cc' 'native/src/*.h' | grep -v 'vmlinux.h$')
if ! command -v clang-format >/dev/null; then
  echo "lint: clang-format is not installed (npm run setup installs it)" >&2
  status=1
elif [ ${#c_files[@]} -gt 0 ]; then
  clang-format --dry-run --Werror "${c_files[@]}" || { echo "lint: run 'npm run format' to apply clang-format" >&2; status=1; }
fi
exit $status
