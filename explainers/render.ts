// Turning a [0,1] map into pictures: colormaps, overlay on the photo, grids.
// Platform-neutral RGBA; Node writes PNG (node-image.ts), the browser a canvas.

import { blank, paste, resizeImage, type RgbaImage } from './image.js';

export type Colormap = 'jet' | 'viridis';

/** MATLAB/OpenCV jet: piecewise-linear blue -> cyan -> yellow -> red. */
function jet(v: number): [number, number, number] {
  const r = Math.min(Math.max(1.5 - Math.abs(4 * v - 3), 0), 1);
  const g = Math.min(Math.max(1.5 - Math.abs(4 * v - 2), 0), 1);
  const b = Math.min(Math.max(1.5 - Math.abs(4 * v - 1), 0), 1);
  return [r * 255, g * 255, b * 255];
}

// viridis (perceptually uniform), 9 anchors of matplotlib's table, linearly interpolated.
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

function viridis(v: number): [number, number, number] {
  const x = Math.min(Math.max(v, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const t = x - i;
  const [a, b] = [VIRIDIS[i], VIRIDIS[i + 1]];
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

export function colorize(map: Float32Array, width: number, height: number, colormap: Colormap = 'jet'): RgbaImage {
  const lut = colormap === 'jet' ? jet : viridis;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = lut(Number.isFinite(map[i]) ? map[i] : 0);
    data.set([r, g, b, 255], i * 4);
  }
  return { width, height, data };
}

/** Blends a colorized map (resized to the photo) over the photo: out = alpha * map + (1 - alpha) * photo. */
export function overlay(photo: RgbaImage, map: Float32Array, mapWidth: number, mapHeight: number, options: { alpha?: number; colormap?: Colormap } = {}): RgbaImage {
  const alpha = options.alpha ?? 0.5;
  let heat = colorize(map, mapWidth, mapHeight, options.colormap);
  if (mapWidth !== photo.width || mapHeight !== photo.height) heat = resizeImage(heat, photo.width, photo.height);
  const data = new Uint8ClampedArray(photo.width * photo.height * 4);
  for (let i = 0; i < data.length; i += 4) {
    for (let c = 0; c < 3; c++) data[i + c] = alpha * heat.data[i + c] + (1 - alpha) * photo.data[i + c];
    data[i + 3] = 255;
  }
  return { width: photo.width, height: photo.height, data };
}

/** Lays images out in a grid (all resized to the first one's size), with `gap` pixels of white between. */
export function grid(images: RgbaImage[], columns: number, gap = 4): RgbaImage {
  if (!images.length) return { width: 0, height: 0, data: new Uint8ClampedArray(0) };
  const { width: w, height: h } = images[0];
  const rows = Math.ceil(images.length / columns);
  const width = columns * w + (columns - 1) * gap;
  const height = rows * h + (rows - 1) * gap;
  const out = blank(width, height, 255);
  images.forEach((img, k) => {
    const tile = img.width === w && img.height === h ? img : resizeImage(img, w, h);
    paste(out, tile, (k % columns) * (w + gap), Math.floor(k / columns) * (h + gap));
  });
  return out;
}

/** Draws a rectangle outline ([x1, y1, x2, y2] in pixels) in place. */
export function drawBox(img: RgbaImage, box: readonly number[], color: [number, number, number] = [255, 255, 255], thickness = 2): void {
  const [x1, y1, x2, y2] = box.map(Math.round);
  const put = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    img.data.set([...color, 255], (y * img.width + x) * 4);
  };
  for (let t = 0; t < thickness; t++) {
    for (let x = x1; x <= x2; x++) {
      put(x, y1 + t);
      put(x, y2 - t);
    }
    for (let y = y1; y <= y2; y++) {
      put(x1 + t, y);
      put(x2 - t, y);
    }
  }
}

/** Draws an image onto a browser canvas (2D context), resizing the canvas to fit. */
export function drawToCanvas(canvas: HTMLCanvasElement | OffscreenCanvas, img: RgbaImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new Error('drawToCanvas: no 2D context');
  const pixels = new Uint8ClampedArray(img.data.buffer as ArrayBuffer, img.data.byteOffset, img.data.byteLength);
  ctx.putImageData(new ImageData(pixels, img.width, img.height), 0, 0);
}
