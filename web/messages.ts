// What the page says when something goes wrong: a title, the library's own
// message (it names the op and node, the byte offset, the file), and what to
// do next. The page stays usable after every one of these.

import type { ErrorInfo } from './protocol.js';

/** The image formats the page reads (decode-image.ts), as its messages name them. */
export const IMAGE_FORMATS = 'PNG, JPEG, WebP, GIF, BMP or AVIF';

export interface PageMessage {
  kind: 'error' | 'info';
  category: ErrorInfo['category'] | 'info';
  title: string;
  text: string;
  hint?: string;
}

export const WEBGPU_HELP =
  'WebGPU is on by default in Chrome and Edge 113+ (Windows, macOS, ChromeOS, Android), Safari 26+ and Firefox 141+ on Windows. ' +
  'On Linux start Chrome or Chromium with --enable-unsafe-webgpu (and --enable-features=Vulkan to use the GPU), or turn on chrome://flags/#enable-unsafe-webgpu; ' +
  'in Firefox elsewhere set dom.webgpu.enabled in about:config (Nightly). ' +
  'WebGPU also needs a secure context: open the page from http://127.0.0.1, http://localhost or https.';

/** The page's message for a worker error. */
export function describeError(info: ErrorInfo): PageMessage {
  switch (info.category) {
    case 'webgpu':
      return { kind: 'error', category: 'webgpu', title: 'WebGPU is unavailable', text: info.message, hint: WEBGPU_HELP };
    case 'unsupported-op':
      return {
        kind: 'error',
        category: 'unsupported-op',
        title: `Unsupported ONNX operation: ${info.op ?? '?'}${info.node ? ` (node '${info.node}')` : ''}`,
        text: info.message,
        hint: 'gradlens has no kernel for this op yet. The previous model is still loaded.',
      };
    case 'not-onnx':
      return { kind: 'error', category: 'not-onnx', title: 'Not an ONNX model', text: info.message, hint: 'Pick an .onnx file (an ONNX ModelProto). The previous model is still loaded.' };
    case 'not-image':
      return { kind: 'error', category: 'not-image', title: 'Not an image', text: info.message, hint: `Pick a ${IMAGE_FORMATS} photo. The previous photo is still loaded.` };
    case 'cancelled':
      return { kind: 'info', category: 'cancelled', title: 'Cancelled', text: 'Stopped; what was shown before is kept.' };
    default:
      return { kind: 'error', category: 'other', title: info.name && info.name !== 'Error' ? info.name : 'Error', text: info.message };
  }
}

/** The message when the page's own browser has no navigator.gpu. */
export function noWebGpuMessage(secure: boolean): PageMessage {
  return {
    kind: 'error',
    category: 'webgpu',
    title: 'WebGPU is unavailable',
    text: secure ? 'This browser has no navigator.gpu, so gradlens cannot run here.' : 'This page is not a secure context, and browsers offer WebGPU only to secure contexts.',
    hint: WEBGPU_HELP,
  };
}
