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

/**
 * Lays images out in a grid (all resized to the first one's size), with `gap`
 * pixels of white between; `captions[k]`, when given, is written at the top
 * left of tile k.
 */
export function grid(images: RgbaImage[], columns: number, gap = 4, captions?: readonly string[]): RgbaImage {
  if (!images.length) return { width: 0, height: 0, data: new Uint8ClampedArray(0) };
  const { width: w, height: h } = images[0];
  const rows = Math.ceil(images.length / columns);
  const width = columns * w + (columns - 1) * gap;
  const height = rows * h + (rows - 1) * gap;
  const out = blank(width, height, 255);
  const scale = textScale(w, h);
  images.forEach((img, k) => {
    const tile = img.width === w && img.height === h ? img : resizeImage(img, w, h);
    const [x, y] = [(k % columns) * (w + gap), Math.floor(k / columns) * (h + gap)];
    paste(out, tile, x, y);
    if (captions?.[k]) drawLabel(out, captions[k], x, y, { scale, color: [0, 0, 0], clip: [x, y, x + w, y + h] });
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

// ---- text and detections ---------------------------------------------------------------

/**
 * A 5x7 bitmap font (upper case; lower case is drawn in upper case): per
 * glyph, 7 rows of 5 bits, two hex digits a row, the leftmost pixel the
 * highest bit. Characters without a glyph are drawn as '?'.
 */
const FONT: Record<string, string> = {
  A: '0e11111f111111', B: '1e11111e11111e', C: '0e11101010110e', D: '1c12111111121c', E: '1f10101e10101f',
  F: '1f10101e101010', G: '0e11101711110f', H: '1111111f111111', I: '0e04040404040e', J: '0702020202120c',
  K: '11121418141211', L: '1010101010101f', M: '111b1515111111', N: '11111915131111', O: '0e11111111110e',
  P: '1e11111e101010', Q: '0e11111115120d', R: '1e11111e141211', S: '0f10100e01011e', T: '1f040404040404',
  U: '1111111111110e', V: '11111111110a04', W: '1111111515150a', X: '11110a040a1111', Y: '1111110a040404',
  Z: '1f01020408101f', 0: '0e11131519110e', 1: '040c040404040e', 2: '0e11010204081f', 3: '1f02040201110e',
  4: '02060a121f0202', 5: '1f101e0101110e', 6: '0608101e11110e', 7: '1f010204080808', 8: '0e11110e11110e',
  9: '0e11110f01020c', ' ': '00000000000000', '.': '00000000000c0c', ',': '000000000c0408', '-': '0000001f000000',
  ':': '000c0c000c0c00', '(': '02040808080402', ')': '08040202020408', '#': '0a0a1f0a1f0a0a', '%': '18190204081303',
  '/': '00010204081000', '_': '0000000000001f', "'": '04040800000000', '+': '0004041f040400', '=': '00001f001f0000',
  '?': '0e110102040004',
};

/** Text scale for an image: 1 below 450 px on the shorter side, then one more per 300 px. */
export function textScale(width: number, height: number): number {
  return Math.max(1, Math.round(Math.min(width, height) / 300));
}

/** Width and height in pixels of `text` at `scale` (6 x 8 pixel cells: a 5 x 7 glyph and a gap). */
export function textSize(text: string, scale = 1): [number, number] {
  return [Math.max(0, text.length * 6 - 1) * scale, 7 * scale];
}

function fillRect(img: RgbaImage, x1: number, y1: number, x2: number, y2: number, color: readonly number[]): void {
  for (let y = Math.max(0, Math.floor(y1)); y < Math.min(img.height, Math.ceil(y2)); y++) {
    for (let x = Math.max(0, Math.floor(x1)); x < Math.min(img.width, Math.ceil(x2)); x++) img.data.set([color[0], color[1], color[2], 255], (y * img.width + x) * 4);
  }
}

/** Draws `text` with its top-left corner at (x, y), in place. */
export function drawText(img: RgbaImage, text: string, x: number, y: number, options: { scale?: number; color?: readonly number[] } = {}): void {
  const scale = options.scale ?? 1;
  const color = options.color ?? [255, 255, 255];
  [...text.toUpperCase()].forEach((ch, k) => {
    const glyph = FONT[ch] ?? FONT['?'];
    for (let row = 0; row < 7; row++) {
      const bits = parseInt(glyph.slice(row * 2, row * 2 + 2), 16);
      for (let col = 0; col < 5; col++) {
        if (bits & (1 << (4 - col))) fillRect(img, x + (k * 6 + col) * scale, y + row * scale, x + (k * 6 + col + 1) * scale, y + (row + 1) * scale, color);
      }
    }
  });
}

/**
 * A label: `text` on a filled background of `color` (text black or white,
 * whichever reads better), top-left at (x, y), moved inside `clip` (default
 * the image) when it would stick out.
 */
export function drawLabel(
  img: RgbaImage,
  text: string,
  x: number,
  y: number,
  options: { scale?: number; color?: readonly number[]; clip?: readonly [number, number, number, number] } = {},
): void {
  const scale = options.scale ?? textScale(img.width, img.height);
  const color = options.color ?? [255, 255, 255];
  const [tw, th] = textSize(text, scale);
  const pad = scale;
  const [cx1, cy1, cx2, cy2] = options.clip ?? [0, 0, img.width, img.height];
  const left = Math.max(cx1, Math.min(Math.round(x), cx2 - tw - 2 * pad));
  const top = Math.max(cy1, Math.min(Math.round(y), cy2 - th - 2 * pad));
  fillRect(img, left, top, left + tw + 2 * pad, top + th + 2 * pad, color);
  const light = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 140;
  drawText(img, text, left + pad, top + pad, { scale, color: light ? [0, 0, 0] : [255, 255, 255] });
}

/** Tableau's 10 colors: one per class (class k gets color k mod 10). */
const PALETTE: readonly [number, number, number][] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

/** The box color of class k. */
export function classColor(k: number): [number, number, number] {
  return PALETTE[((k % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** One box to draw: [x1, y1, x2, y2] in pixels, a label ("car 0.88"), and its color (default by `classId`). */
export interface BoxLabel {
  box: readonly number[];
  label?: string;
  classId?: number;
  color?: [number, number, number];
}

/** A label's rectangle [x1, y1, x2, y2] in pixels (x2, y2 exclusive). */
export type LabelRect = [number, number, number, number];
/** A label's rectangle [width, height] in image pixels. */
export type LabelSize = (label: string) => readonly [number, number];

const intersects = (a: LabelRect, b: LabelRect) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];

/**
 * Where drawDetections puts each box's label (null for a box without one):
 * above the box at its left edge (inside its top when there is no room above),
 * else, when that rectangle would cover a label placed before it (boxes are
 * placed in the order given: the first, the highest score, gets its place),
 * the nearest free spot among inside the box's top, below it, inside its
 * bottom, and just below, above, right or left of each label already placed;
 * always inside the image. Labels overlap only when none of these is free.
 */
export function labelRects(width: number, height: number, boxes: readonly BoxLabel[], size: number | LabelSize = textScale(width, height)): (LabelRect | null)[] {
  // A number is the bitmap font's scale (drawLabel's rectangle: the text plus a margin); the page measures its own font.
  const measure: LabelSize =
    typeof size === 'number'
      ? (label) => {
          const [tw, th] = textSize(label, size);
          return [tw + 2 * size, th + 2 * size];
        }
      : size;
  const placed: LabelRect[] = [];
  return boxes.map((b) => {
    if (!b.label) return null;
    const [w, h] = measure(b.label);
    const at = (x: number, y: number): LabelRect => {
      const left = Math.max(0, Math.min(Math.round(x), width - w));
      const top = Math.max(0, Math.min(Math.round(y), height - h));
      return [left, top, left + w, top + h];
    };
    const [x1, y1, , y2] = b.box;
    const preferred = at(x1, y1 - h >= 0 ? y1 - h : y1);
    const candidates = [preferred, at(x1, y1), at(x1, y2), at(x1, y2 - h)];
    for (const p of placed) candidates.push(at(x1, p[3]), at(x1, p[1] - h), at(p[2], preferred[1]), at(p[0] - w, preferred[1]));
    const distance = (r: LabelRect) => Math.abs(r[0] - preferred[0]) + Math.abs(r[1] - preferred[1]);
    let best: LabelRect | null = null;
    for (const r of candidates) {
      if (placed.some((p) => intersects(r, p))) continue;
      if (!best || distance(r) < distance(best)) best = r;
    }
    const rect = best ?? preferred;
    placed.push(rect);
    return rect;
  });
}

/** Draws boxes, then their labels where labelRects puts them (above each box, moved where one would hide another), in place. */
export function drawDetections(img: RgbaImage, boxes: readonly BoxLabel[], options: { thickness?: number; scale?: number } = {}): void {
  const scale = options.scale ?? textScale(img.width, img.height);
  const thickness = options.thickness ?? Math.max(2, scale + 1);
  const colors = boxes.map((b) => b.color ?? classColor(b.classId ?? 0));
  boxes.forEach((b, i) => drawBox(img, b.box, colors[i], thickness));
  // Labels after every box: no box line crosses a label.
  labelRects(img.width, img.height, boxes, scale).forEach((r, i) => {
    if (r) drawLabel(img, boxes[i].label!, r[0], r[1], { scale, color: colors[i] });
  });
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

/**
 * Deep Feature Factorization's picture (as pytorch-grad-cam's
 * show_factorization_on_image): each pixel takes the color of the concept whose
 * map is largest there (classColor(j) for concept j), as bright as that map's
 * value, blended over the photo (`alpha` the concepts' weight, default 0.7);
 * below the photo, a legend: one line per concept, a swatch of its color and
 * `labels[j]`. `maps` is [k, mapHeight, mapWidth] in [0, 1], read at the
 * nearest map pixel.
 */
export function conceptOverlay(photo: RgbaImage, maps: Float32Array, mapWidth: number, mapHeight: number, labels: readonly string[], options: { alpha?: number } = {}): RgbaImage {
  const alpha = options.alpha ?? 0.7;
  const k = maps.length / (mapWidth * mapHeight);
  const scale = textScale(photo.width, photo.height);
  const line = 9 * scale + 2;
  const out = blank(photo.width, photo.height + k * line + 4, 255);
  for (let y = 0; y < photo.height; y++) {
    const my = Math.min(mapHeight - 1, Math.floor(((y + 0.5) * mapHeight) / photo.height));
    for (let x = 0; x < photo.width; x++) {
      const mx = Math.min(mapWidth - 1, Math.floor(((x + 0.5) * mapWidth) / photo.width));
      let best = 0;
      for (let j = 1; j < k; j++) if (maps[(j * mapHeight + my) * mapWidth + mx] > maps[(best * mapHeight + my) * mapWidth + mx]) best = j;
      const v = Math.min(Math.max(maps[(best * mapHeight + my) * mapWidth + mx], 0), 1);
      const color = classColor(best);
      const i = (y * photo.width + x) * 4;
      for (let c = 0; c < 3; c++) out.data[i + c] = alpha * v * color[c] + (1 - alpha) * photo.data[i + c];
    }
  }
  for (let j = 0; j < k; j++) {
    const top = photo.height + 4 + j * line;
    fillRect(out, 2, top, 2 + 7 * scale, top + 7 * scale, classColor(j));
    drawText(out, labels[j] ?? `concept ${j}`, 4 + 9 * scale, top, { scale, color: [0, 0, 0] });
  }
  return out;
}
