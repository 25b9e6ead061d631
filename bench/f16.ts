// `npm run bench -- f16`: the f16 storage mode (LoadOptions.precision) against
// f32 on the same adapter, per model (dog.jpg as the model's preset prepares
// it): forward and Grad-CAM wall clock (medians, the two precisions
// interleaved), and the accuracy the issue asks to state: the largest output
// difference relative to the largest |output|, whether the top detection or
// class is the same, and the largest difference of the Grad-CAM maps (in
// [0, 1]) of the same detection at the same layers.

import { writeFileSync } from 'node:fs';
import { init } from '../engine/index.js';
import { benchModel, explainTop, gradlensForward, modelPath, type BenchModel } from './models.js';
import { adapterRecord, loadNow, MODEL_FILES } from './shared-device.js';
import { median } from './timing.js';

export interface F16Row {
  model: string;
  f32_forward_ms: number;
  f16_forward_ms: number;
  f32_gradcam_ms: number;
  f16_gradcam_ms: number;
  /** max |f16 - f32| over every output / max |f32 output|. */
  output_rel_error: number;
  /** The top detection's (or class's) score in each precision. */
  top_score: [number, number];
  same_top: boolean;
  /** max |f16 map - f32 map|, maps in [0, 1]. */
  gradcam_map_error: number;
}

export async function runF16(flags: Record<string, string | undefined>): Promise<number> {
  const reps = Number(flags.reps ?? 5);
  const rt = await init();
  if (!rt.handle.features.has('shader-f16')) throw new Error(`the adapter lacks shader-f16: ${rt.adapterDescription}`);
  const rows: F16Row[] = [];
  const wanted = flags.models?.split(',');
  for (const { name, file } of MODEL_FILES) {
    if (wanted && !wanted.includes(name)) continue;
    const path = modelPath(file);
    if (typeof path !== 'string') {
      console.log(path.skip);
      continue;
    }
    const m32 = await benchModel(name, path, 'f32');
    const m16raw = await benchModel(name, path, 'f16');
    // The same detection in both (f16's list may order near-ties differently).
    const m16: BenchModel = { ...m16raw, detections: m32.detections, layers: m32.layers };
    const steps = (m: BenchModel) => ({ forward: gradlensForward(m), gradcam: () => explainTop(m, 'gradcam') });
    const s32 = steps(m32);
    const s16 = steps(m16);
    const [y32, y16] = [await s32.forward(), await s16.forward()];
    const [g32, g16] = [await s32.gradcam(), await s16.gradcam()];
    const times: Record<string, number[]> = { f32f: [], f16f: [], f32g: [], f16g: [] };
    for (let r = 0; r < reps; r++) {
      for (const [key, run] of [['f32f', s32.forward], ['f16f', s16.forward], ['f32g', s32.gradcam], ['f16g', s16.gradcam]] as const) {
        const t0 = performance.now();
        await run();
        times[key].push(performance.now() - t0);
      }
    }
    let diff = 0;
    let scale = 0;
    y32.forEach((a, k) => a.forEach((v, i) => ((diff = Math.max(diff, Math.abs(v - y16[k][i]))), (scale = Math.max(scale, Math.abs(v))))));
    let mapError = 0;
    g32.map.forEach((v, i) => (mapError = Math.max(mapError, Math.abs(v - g16.map[i]))));
    const top16 = m16raw.head ? m16raw.detections[0] : undefined;
    const top32 = m32.head ? m32.detections[0] : undefined;
    const sameTop = m32.head ? top16?.classId === top32?.classId && Math.abs((top16?.score ?? 0) - (top32?.score ?? 0)) < 0.01 : g32.category?.[0] === g16.category?.[0];
    rows.push({
      model: name,
      f32_forward_ms: median(times.f32f),
      f16_forward_ms: median(times.f16f),
      f32_gradcam_ms: median(times.f32g),
      f16_gradcam_ms: median(times.f16g),
      output_rel_error: diff / scale,
      top_score: [g32.score[0], g16.score[0]],
      same_top: sameTop,
      gradcam_map_error: mapError,
    });
    const r = rows[rows.length - 1];
    console.log(
      `${name}: forward f32 ${r.f32_forward_ms.toFixed(0)} ms, f16 ${r.f16_forward_ms.toFixed(0)} ms; Grad-CAM f32 ${r.f32_gradcam_ms.toFixed(0)} ms, f16 ${r.f16_gradcam_ms.toFixed(0)} ms; ` +
        `outputs rel. error ${r.output_rel_error.toExponential(2)}, score ${r.top_score[0].toFixed(4)} vs ${r.top_score[1].toFixed(4)}, same top: ${r.same_top}, map error ${r.gradcam_map_error.toExponential(2)}`,
    );
    m32.model.dispose();
    m16raw.model.dispose();
  }
  if (flags.json) writeFileSync(flags.json, JSON.stringify({ command: `npm run bench -- f16 ${process.argv.slice(3).join(" ")}`.trim(), adapter: adapterRecord(rt), load: loadNow(), reps, rows }, null, 2));
  return 0;
}
