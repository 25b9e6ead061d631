// PNG/JPEG decoding and PNG encoding in Node, through pngjs and jpeg-js (well-kept
// pure-JS codecs: no native build, same results on every machine).

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { GradlensError } from '../engine/index.js';
import type { RgbaImage } from './image.js';

export class ImageDecodeError extends GradlensError {}

/** Largest image decoded (jpeg-js's own default limit is the same 100 MP). */
const MAX_PIXELS = 100e6;

export function decodeImage(bytes: Uint8Array, name = 'image'): RgbaImage {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47) {
    // pngjs allocates what the header declares: refuse decompression bombs first (jpeg-js caps JPEGs itself).
    if (buf.length >= 24) {
      const [width, height] = [buf.readUInt32BE(16), buf.readUInt32BE(20)];
      if (width * height > MAX_PIXELS) {
        throw new ImageDecodeError(`${name}: PNG declares ${width}x${height} pixels, more than the ${MAX_PIXELS / 1e6} megapixels gradlens decodes`);
      }
    }
    try {
      const png = PNG.sync.read(buf);
      return { width: png.width, height: png.height, data: new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length) };
    } catch (e) {
      throw new ImageDecodeError(`${name}: invalid PNG (${(e as Error).message})`);
    }
  }
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) {
    try {
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 512, maxResolutionInMP: MAX_PIXELS / 1e6 });
      return { width: img.width, height: img.height, data: new Uint8ClampedArray(img.data.buffer, img.data.byteOffset, img.data.length) };
    } catch (e) {
      throw new ImageDecodeError(`${name}: invalid JPEG (${(e as Error).message})`);
    }
  }
  throw new ImageDecodeError(`${name}: not a PNG or JPEG file`);
}

export function encodePng(img: RgbaImage): Uint8Array {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png);
}
