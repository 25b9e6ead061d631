// Device acquisition and loss.

import { expect, test } from 'vitest';
import { DeviceLost, init, relu, runtime, tensor } from '../../engine/index.js';

test('the adapter is described and has the features the engine asked for', () => {
  const rt = runtime();
  expect(rt.adapterDescription.length).toBeGreaterThan(5);
  for (const f of rt.handle.features) expect(rt.device.features.has(f)).toBe(true);
});

test('a lost device fails pending and later work with DeviceLost; init() recovers', async () => {
  const rt = runtime();
  const x = tensor([1, -1], [2]);
  const y = relu(x);
  const pending = y.data();
  rt.device.destroy();
  await rt.device.lost;
  // The readback raced the loss: it either finished before or fails with DeviceLost.
  await pending.catch((e) => expect(e).toBeInstanceOf(DeviceLost));
  expect(() => relu(x)).toThrow(DeviceLost);
  await expect(y.data()).rejects.toThrow(/device lost/);
  const fresh = await init();
  expect(fresh).not.toBe(rt);
  expect(Array.from(await relu(tensor([2, -2], [2])).data())).toEqual([2, 0]);
  x.dispose(); // a tensor of the lost device is dropped without touching the new pool
  y.dispose();
});
