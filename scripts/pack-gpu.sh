#!/usr/bin/env bash
# Packs benchmark entries for the remote GPU machine (see ../shared/gpu/README.md).
# ../shared/gpu/pack.sh brings Node, dawn.node and the Vulkan loader into .gpu/;
# our entries are then bundled here with the `.wgsl` text loader it lacks.
#   bash scripts/pack-gpu.sh bench/main.ts      ->  on the GPU: bash .gpu/run.sh main conv ...
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${GRADLENS_SHARED:-../shared}"
[ -f "$SHARED/gpu/pack.sh" ] || { echo "pack-gpu: no $SHARED/gpu/pack.sh" >&2; exit 1; }
placeholder="$(mktemp -d)/placeholder.mjs"
echo 'process.exit(0);' > "$placeholder"
bash "$SHARED/gpu/pack.sh" "$placeholder"
rm -f .gpu/app/placeholder.mjs
for entry in "$@"; do
  name="$(basename "$entry")"; name="${name%.*}"
  node_modules/.bin/esbuild "$entry" --bundle --platform=node --format=esm --target=node20 \
    --external:webgpu --loader:.wgsl=text --log-level=warning --outfile=".gpu/app/$name.mjs" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
done
du -sh .gpu
