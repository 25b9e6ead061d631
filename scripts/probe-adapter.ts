// Prints the WebGPU adapter Node gets (exit 1 when there is none).
import { describeAdapter, getDevice, destroyDevice } from '../engine/device/device.js';

try {
  const handle = await getDevice();
  console.log(describeAdapter(handle));
  await destroyDevice();
  process.exit(0);
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
