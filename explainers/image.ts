// Images as plain RGBA bytes, and the steps between a photo and a model input:
// resize, letterbox, normalize to NCHW float32. Platform-neutral (Node codecs
// are in node-image.ts; the browser uses canvas).

export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major RGBA. */
  data: Uint8ClampedArray | Uint8Array;
}

/** Bilinear resize (half-pixel centers, like PIL/OpenCV INTER_LINEAR without antialiasing). */
export function resizeImage(img: RgbaImage, width: number, height: number): RgbaImage {
  const out = new Uint8ClampedArray(width * height * 4);
  const sx = img.width / width;
  const sy = img.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 4; c++) {
        const p00 = img.data[(y0 * img.width + x0) * 4 + c];
        const p01 = img.data[(y0 * img.width + x1) * 4 + c];
        const p10 = img.data[(y1 * img.width + x0) * 4 + c];
        const p11 = img.data[(y1 * img.width + x1) * 4 + c];
        out[(y * width + x) * 4 + c] = (p00 * (1 - wx) + p01 * wx) * (1 - wy) + (p10 * (1 - wx) + p11 * wx) * wy;
      }
    }
  }
  return { width, height, data: out };
}

/** A width x height image whose RGB bytes are all `value` (alpha 255). */
export function blank(width: number, height: number, value = 0): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4).fill(value);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  return { width, height, data };
}

/** Copies `src` into `dst` with its top-left corner at (x, y); what falls outside `dst` is cut off (a negative offset crops). */
export function paste(dst: RgbaImage, src: RgbaImage, x: number, y: number): void {
  const left = Math.max(0, x);
  const right = Math.min(dst.width, x + src.width);
  if (right <= left) return;
  for (let row = Math.max(0, y); row < Math.min(dst.height, y + src.height); row++) {
    const from = ((row - y) * src.width + (left - x)) * 4;
    dst.data.set(src.data.subarray(from, from + (right - left) * 4), (row * dst.width + left) * 4);
  }
}

export interface Letterbox {
  image: RgbaImage;
  /** Scale from original to letterboxed pixels, and the padding added on the left/top. */
  scale: number;
  padX: number;
  padY: number;
}

/** Resize keeping aspect ratio, pad to width x height with a grey value (ultralytics uses 114), centered. */
export function letterbox(img: RgbaImage, width: number, height: number, fill = 114): Letterbox {
  const scale = Math.min(width / img.width, height / img.height);
  const w = Math.round(img.width * scale);
  const h = Math.round(img.height * scale);
  const resized = resizeImage(img, w, h);
  const padX = Math.floor((width - w) / 2);
  const padY = Math.floor((height - h) / 2);
  const out = blank(width, height, fill);
  paste(out, resized, padX, padY);
  return { image: out, scale, padX, padY };
}

export interface Normalization {
  /** Per-channel (RGB) values subtracted after dividing by `divisor`. */
  mean: [number, number, number];
  std: [number, number, number];
  divisor: number;
  /** Channel order of the model input. */
  order: 'rgb' | 'bgr';
}

/** RGBA bytes -> [1, 3, H, W] float32: ((v / divisor) - mean) / std per channel. */
export function toNchw(img: RgbaImage, norm: Normalization): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const src = norm.order === 'rgb' ? c : 2 - c;
    for (let i = 0; i < plane; i++) {
      out[c * plane + i] = (img.data[i * 4 + src] / norm.divisor - norm.mean[c]) / norm.std[c];
    }
  }
  return out;
}
