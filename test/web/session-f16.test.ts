// The page's worker session (web/session.ts) in Node, on this adapter: the
// f16 option the page offers where the adapter has shader-f16 (Chromium's
// SwiftShader, in page.test.ts, has not: there the checkbox is disabled).
// Lavapipe has it; CI must.

/// <reference path="../../web/jpeg-js-decoder.d.ts" />

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { Session } from '../../web/session.js';
import { needF16 } from '../helpers/f16.js';

const file = (path: string) => {
  const b = readFileSync(path);
  return { name: path.split('/').pop()!, bytes: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer };
};

test('the session opens Yolo-Fastest in f16 on request: same detections, the map within 1e-2 of f32', async (ctx) => {
  needF16(ctx);
  const signal = new AbortController().signal;
  const session = new Session();
  const info = await session.init();
  expect(info.adapter.features).toContain('shader-f16');
  const f32 = await session.open({ model: file('explainers/assets/yolo_fastest_1.1_coco.onnx'), image: file('explainers/assets/dog.jpg') }, signal);
  expect(f32.model.precision).toBe('f32');
  const a = await session.explain({ method: 'gradcam', pick: { kind: 'default' } }, signal, () => {});
  const f16 = await session.open({ precision: 'f16' }, signal); // the same model and photo, reloaded in f16
  expect(f16.model.precision).toBe('f16');
  expect(f16.detections?.map((d) => d.className)).toEqual(f32.detections?.map((d) => d.className));
  const b = await session.explain({ method: 'gradcam', pick: { kind: 'default' } }, signal, () => {});
  expect(b.detections[0].className).toBe(a.detections[0].className);
  expect(Math.abs(b.score - a.score)).toBeLessThan(1e-2);
  const diff = a.map.reduce((m, v, i) => Math.max(m, Math.abs(v - b.map[i])), 0);
  expect(diff).toBeGreaterThan(0);
  expect(diff).toBeLessThan(1e-2);
  // The choice sticks across opens (a new photo keeps f16) until unchecked.
  expect((await session.open({ image: file('explainers/assets/dog.jpg') }, signal)).model.precision).toBe('f16');
  expect((await session.open({ precision: 'f32' }, signal)).model.precision).toBe('f32');
});
