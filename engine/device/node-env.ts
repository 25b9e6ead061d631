// Picks the Vulkan driver for Dawn in Node before the first adapter request.
// Set GRADLENS_VULKAN to 'lavapipe', 'swiftshader', 'system' or a path to an
// ICD json. Without it: VK_ICD_FILENAMES / VK_DRIVER_FILES are respected when
// set; on a machine with no GPU device node, the software driver is named
// explicitly (exactly one ICD, as Dawn needs).

// node:fs through getBuiltinModule keeps this file importable by browser bundles.
function fs(): typeof import('node:fs') {
  return (process as unknown as { getBuiltinModule(id: string): typeof import('node:fs') }).getBuiltinModule('node:fs');
}

export const SOFTWARE_ICDS = {
  lavapipe: '/usr/share/vulkan/icd.d/lvp_icd.json',
  swiftshader: '/usr/lib/chromium/vk_swiftshader_icd.json',
} as const;

export function hasGpuDeviceNode(): boolean {
  return fs().existsSync('/dev/dri/renderD128') || fs().existsSync('/dev/nvidia0') || fs().existsSync('/dev/nvidiactl');
}

/** Returns the ICD chosen (or 'system'). Mutates process.env. */
export function configureVulkanEnv(env: NodeJS.ProcessEnv = process.env): string {
  if (!env.XDG_RUNTIME_DIR) {
    // Mesa warns on every start without a private runtime dir.
    const dir = `/tmp/gradlens-xdg-${process.getuid?.() ?? 0}`;
    fs().mkdirSync(dir, { recursive: true });
    fs().chmodSync(dir, 0o700);
    env.XDG_RUNTIME_DIR = dir;
  }
  const choice = env.GRADLENS_VULKAN;
  if (choice === 'system') return 'system';
  if (choice) {
    const path = choice in SOFTWARE_ICDS ? SOFTWARE_ICDS[choice as keyof typeof SOFTWARE_ICDS] : choice;
    env.VK_ICD_FILENAMES = path;
    delete env.VK_DRIVER_FILES;
    return path;
  }
  if (env.VK_ICD_FILENAMES) return env.VK_ICD_FILENAMES;
  if (env.VK_DRIVER_FILES) return env.VK_DRIVER_FILES;
  if (hasGpuDeviceNode()) return 'system';
  for (const path of Object.values(SOFTWARE_ICDS)) {
    if (fs().existsSync(path)) {
      env.VK_ICD_FILENAMES = path;
      return path;
    }
  }
  return 'system';
}
