// Pictures on the page: the photo and the heatmap on two stacked canvases (the
// heatmap's CSS opacity is the overlay's alpha, so the opacity slider redraws
// nothing), the overlay PNG made exactly as the CLI makes it (the library's
// overlay() and drawDetections()), and the .npy downloads.

import type { RgbaImage } from '../explainers/image.js';
import { colorize, drawDetections, overlay, type Colormap } from '../explainers/render.js';
import { writeNpy } from '../importers/onnx/npy.js';
import type { DetectionSummary } from './protocol.js';

const luts = new Map<Colormap, Uint8ClampedArray>();

/** The colormap as 256 RGBA entries (the library's colorize() at 256 levels). */
export function colormapLut(colormap: Colormap): Uint8ClampedArray {
  let lut = luts.get(colormap);
  if (!lut) {
    const ramp = Float32Array.from({ length: 256 }, (_, i) => i / 255);
    lut = new Uint8ClampedArray(colorize(ramp, 256, 1, colormap).data);
    luts.set(colormap, lut);
  }
  return lut;
}

/** Paints RGBA bytes onto a canvas, sizing it to them. */
export function paintRgba(canvas: HTMLCanvasElement, rgba: Uint8ClampedArray, width: number, height: number): void {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba), width, height), 0, 0);
}

/** The colorized map (values in [0, 1], width x height) as RGBA bytes. */
export function heatRgba(map: Float32Array, width: number, height: number, colormap: Colormap): Uint8ClampedArray {
  const lut = colormapLut(colormap);
  const out = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const v = map[i];
    const k = Number.isFinite(v) ? Math.min(255, Math.max(0, Math.round(v * 255))) * 4 : 0;
    out[i * 4] = lut[k];
    out[i * 4 + 1] = lut[k + 1];
    out[i * 4 + 2] = lut[k + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** A detection's label, as the CLI draws it ("car 0.88"). */
export function detectionLabel(d: DetectionSummary): string {
  return `${d.className} ${d.score.toFixed(2)}`;
}

/** The overlay the CLI writes: the photo blended with the map at `alpha`, boxes and labels drawn. */
export function overlayImage(photo: RgbaImage, photoMap: Float32Array, alpha: number, colormap: Colormap, boxes: readonly DetectionSummary[]): RgbaImage {
  const img = overlay(photo, photoMap, photo.width, photo.height, { alpha, colormap });
  drawDetections(img, boxes.map((d) => ({ box: d.box, label: detectionLabel(d), classId: d.classId })));
  return img;
}

export function pngBlob(img: RgbaImage): Promise<Blob> {
  const canvas = document.createElement('canvas');
  paintRgba(canvas, new Uint8ClampedArray(img.data), img.width, img.height);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the browser could not encode the PNG'))), 'image/png'));
}

export function npyBlob(data: Float32Array, shape: readonly number[]): Blob {
  const bytes = writeNpy(data, shape);
  return new Blob([new Uint8Array(bytes)], { type: 'application/octet-stream' });
}

/** Saves a blob under `name` (an object URL: nothing leaves the page). */
export function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
