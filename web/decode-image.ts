// Photo bytes -> RGBA, in the worker. JPEGs go through jpeg-js, the decoder
// the CLI uses (explainers/node-image.ts), so that the page and
// `gradlens explain` see the same pixels (browsers' libjpeg-turbo upsamples
// chroma differently: a few levels per pixel, enough to move scores in the
// fourth decimal). Everything else (PNG, WebP, GIF, BMP, AVIF) goes through
// the browser's own decoder: createImageBitmap with no color conversion and
// no premultiplication, read back from an OffscreenCanvas (exact for opaque
// 8-bit images; translucent pixels pass through the canvas's premultiplied
// storage).

import decodeJpeg from 'jpeg-js/lib/decoder.js';
import type { RgbaImage } from '../explainers/image.js';
import { IMAGE_FORMATS } from './messages.js';


export class ImageError extends Error {
  override name = 'ImageError';
}

/** Largest image decoded (as the CLI: 100 megapixels). */
const MAX_PIXELS = 100e6;

const isJpeg = (b: Uint8Array) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** Decodes `bytes`; ImageError naming the file when it is not an image this browser can read. */
export async function decodeImageBytes(bytes: ArrayBuffer, name: string): Promise<RgbaImage> {
  const b = new Uint8Array(bytes);
  if (isJpeg(b)) {
    try {
      const img = decodeJpeg(b, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 512, maxResolutionInMP: MAX_PIXELS / 1e6 });
      return { width: img.width, height: img.height, data: new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length) };
    } catch (e) {
      throw new ImageError(`'${name}' is not a readable JPEG image (${(e as Error).message})`);
    }
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch {
    throw new ImageError(`'${name}' is not an image this browser can read (${IMAGE_FORMATS})`);
  }
  try {
    const { width, height } = bitmap;
    if (width * height > MAX_PIXELS) throw new ImageError(`'${name}' has ${width}x${height} pixels, more than the ${MAX_PIXELS / 1e6} megapixels gradlens decodes`);
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new ImageError(`cannot decode '${name}': no 2D canvas in this worker`);
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, width, height).data;
    return { width, height, data };
  } finally {
    bitmap.close();
  }
}

/** A video frame (an ImageBitmap moved from the page) as RGBA; the bitmap is closed. */
export function rgbaFromBitmap(bitmap: ImageBitmap): RgbaImage {
  try {
    const { width, height } = bitmap;
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new ImageError('cannot read the frame: no 2D canvas in this worker');
    ctx.drawImage(bitmap, 0, 0);
    return { width, height, data: ctx.getImageData(0, 0, width, height).data };
  } finally {
    bitmap.close();
  }
}
