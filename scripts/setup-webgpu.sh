#!/usr/bin/env bash
# Makes sure Node can get a WebGPU adapter (Dawn needs a Vulkan driver).
#
#   bash scripts/setup-webgpu.sh            check; install a software driver if none works
#   bash scripts/setup-webgpu.sh --check    same (used by `npm test`'s pretest hook)
#   bash scripts/setup-webgpu.sh --install  install lavapipe and chromium (CI, before npm ci)
#
# On Debian 12 as root it installs Mesa 25 lavapipe from bookworm-backports
# (Debian 12's own Mesa 22 lavapipe is too old for Dawn), falling back to the
# SwiftShader that Debian's chromium package ships. Elsewhere it prints what to
# install. The engine picks the driver itself (engine/device/node-env.ts).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:---check}"
LAVAPIPE_ICD=/usr/share/vulkan/icd.d/lvp_icd.json
SWIFTSHADER_ICD=/usr/lib/chromium/vk_swiftshader_icd.json

probe() {
  [ -d node_modules/webgpu ] || return 1
  node scripts/run-ts.mjs scripts/probe-adapter.ts >/dev/null 2>&1
}

mesa_major() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+).*/\1/' || true
}

is_debian12_root() {
  [ "$(id -u)" = 0 ] && grep -q 'VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null
}

apt_updated=0
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ "$apt_updated" = 0 ]; then apt-get update -q >/dev/null; apt_updated=1; fi
  apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

install_lavapipe() {
  local major
  major="$(mesa_major)"
  if [ -f "$LAVAPIPE_ICD" ] && [ -n "$major" ] && [ "$major" -ge 24 ]; then return 0; fi
  echo "[setup-webgpu] installing Mesa lavapipe from bookworm-backports" >&2
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/gradlens-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt_updated=0
  fi
  apt_install -t bookworm-backports mesa-vulkan-drivers libvulkan1
}

install_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  echo "[setup-webgpu] installing chromium (browser tests; SwiftShader Vulkan)" >&2
  apt_install chromium
}

if [ "$mode" = "--install" ]; then
  # System packages only (before `npm ci`); the adapter is probed by --check.
  if is_debian12_root; then
    install_lavapipe
    install_chromium
  else
    echo "[setup-webgpu] not Debian 12 as root: install a Vulkan driver and chromium yourself" >&2
  fi
  exit 0
fi

if probe; then exit 0; fi

if is_debian12_root; then
  install_lavapipe || true
  if probe; then exit 0; fi
  install_chromium || true
  if [ -f "$SWIFTSHADER_ICD" ] && GRADLENS_VULKAN=swiftshader probe; then
    echo "[setup-webgpu] using SwiftShader: export GRADLENS_VULKAN=swiftshader" >&2
    exit 0
  fi
fi

cat >&2 <<'MSG'
[setup-webgpu] No WebGPU adapter is available to Node.
Dawn (npm `webgpu`) needs a Vulkan driver. Options:
  - a GPU with its Vulkan driver (NVIDIA, AMD/Intel Mesa RADV/ANV), or
  - Mesa >= 24 lavapipe (software): on Debian 12 enable bookworm-backports and
    `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`;
    on Ubuntu 24.04 `apt-get install mesa-vulkan-drivers`, or
  - SwiftShader from Debian's chromium: GRADLENS_VULKAN=swiftshader
Pick one driver with GRADLENS_VULKAN=lavapipe|swiftshader|system|/path/to/icd.json.
MSG
exit 1
