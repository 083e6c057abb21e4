#!/usr/bin/env bash
# Builds native/ (the libbpf bridge) with node-gyp against the system Node headers, only when a source changed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=native/build/Release/tapio_native.node
if [ -f "$out" ] && [ -z "$(find native/src native/binding.gyp -newer "$out" 2>/dev/null)" ]; then
  exit 0
fi
echo "setup: building the native addon" >&2
cd native
# --nodedir=/usr: Node's headers are in /usr/include/node here; without it node-gyp tries to download them.
../node_modules/.bin/node-gyp rebuild --nodedir=/usr --loglevel=error >/dev/null
