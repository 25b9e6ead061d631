// Runs once before all test files: prints the adapter the tests will use.
import { describeAdapter, getDevice, destroyDevice } from '../engine/device/device.js';

export default async function setup(): Promise<void> {
  const handle = await getDevice();
  console.log(`[gradlens] WebGPU adapter: ${describeAdapter(handle)} (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'system'})`);
  await destroyDevice();
}
