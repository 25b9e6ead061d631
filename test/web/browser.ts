// Chromium for the page tests: Debian's /usr/bin/chromium (installed by .ci/run
// through scripts/setup-webgpu.sh --install; installed here with apt-get when
// missing and we are root), launched headless with WebGPU on a fresh profile,
// and the page built into test-output/web/site and served from 127.0.0.1 by
// the test itself.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import { chromium, type BrowserContext } from 'playwright-core';
import type { RgbaImage } from '../../explainers/image.js';
// @ts-expect-error: a plain .mjs script without declarations
import { buildWeb as buildWebUntyped, serveStatic as serveStaticUntyped } from '../../scripts/web.mjs';

const buildWeb = buildWebUntyped as (o: { out: string; quiet?: boolean }) => Promise<{ outdir: string; sizes: Record<string, number> }>;
const serveStatic = serveStaticUntyped as (dir: string, port: number) => Promise<{ server: Server; url: string }>;

export const OUTPUT = resolve('test-output/web');

/**
 * Chromium's WebGPU on a machine without a GPU: Chromium ignores Vulkan ICDs
 * such as lavapipe for WebGPU (tried: --enable-features=Vulkan,
 * --use-vulkan=native, --use-angle=vulkan, --use-webgpu-adapter=default, with
 * VK_ICD_FILENAMES) and always offers its SwiftShader fallback adapter, which
 * --enable-unsafe-webgpu alone exposes. The rest keeps the browser off the
 * network and quiet.
 */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

/** The Chromium binary, installing Debian's package when it is missing and we can; else why not. */
export function findChromium(): { path: string } | { reason: string } {
  const path = process.env.GRADLENS_CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(path)) return { path };
  let why = 'not root, so apt-get cannot install it';
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    try {
      console.warn(`[web tests] ${path} is missing: apt-get install -y chromium`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore', env, timeout: 300_000 });
      execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], { stdio: 'ignore', env, timeout: 600_000 });
    } catch (e) {
      why = `apt-get install chromium failed: ${(e as Error).message.split('\n')[0]}`;
    }
    if (existsSync(path)) return { path };
  } else if (!existsSync('/usr/bin/apt-get')) {
    why = 'no apt-get on this machine';
  }
  return { reason: `Chromium is not at ${path} and could not be installed (${why}). Install Debian's chromium package (scripts/setup-webgpu.sh --install does) or set GRADLENS_CHROMIUM to a Chromium binary.` };
}

export interface Site {
  url: string;
  sizes: Record<string, number>;
  close(): Promise<void>;
}

/** Builds the page into test-output/web/site and serves it on 127.0.0.1 (a free port). */
export async function serveSite(): Promise<Site> {
  const { outdir, sizes } = await buildWeb({ out: 'test-output/web/site', quiet: true });
  const { server, url } = await serveStatic(outdir, 0);
  return { url, sizes, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/**
 * A headless Chromium with WebGPU on a fresh profile; with `fakeCamera` (a
 * .y4m clip), its camera plays that clip, permission granted. close() also
 * removes the profile.
 */
export async function launch(executablePath: string, options: { fakeCamera?: string } = {}): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'gradlens-chromium-'));
  const camera = options.fakeCamera ? ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${options.fakeCamera}`] : [];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS, ...camera],
    permissions: options.fakeCamera ? ['camera'] : [],
    viewport: { width: 1280, height: 1000 },
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function outputDir(): string {
  mkdirSync(OUTPUT, { recursive: true });
  return OUTPUT;
}

/**
 * Empties test-output/web/ before a run writes its screenshots and
 * timings.json, so none from an earlier run (or an earlier numbering of the
 * states) lingers beside them; the built page, site/, is left to serveSite.
 */
export function clearOutput(): void {
  if (!existsSync(OUTPUT)) return;
  for (const entry of readdirSync(OUTPUT)) {
    if (entry !== 'site') rmSync(join(OUTPUT, entry), { recursive: true, force: true });
  }
}

/**
 * A short .y4m clip (4:2:0, full-range BT.601, as Chromium's fake camera reads
 * it) from RGBA frames of one size: `fps` frames a second.
 */
export function writeY4m(path: string, frames: readonly RgbaImage[], fps: number): void {
  const { width, height } = frames[0];
  if (width % 2 || height % 2) throw new Error('y4m 4:2:0 frames need even sides');
  const parts: Buffer[] = [Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`)];
  for (const f of frames) {
    const y = Buffer.alloc(width * height);
    const u = Buffer.alloc((width / 2) * (height / 2));
    const v = Buffer.alloc((width / 2) * (height / 2));
    const px = (x: number, yy: number, c: number) => f.data[(yy * width + x) * 4 + c];
    for (let j = 0; j < height; j++) for (let i = 0; i < width; i++) y[j * width + i] = Math.round(0.299 * px(i, j, 0) + 0.587 * px(i, j, 1) + 0.114 * px(i, j, 2));
    for (let j = 0; j < height / 2; j++) {
      for (let i = 0; i < width / 2; i++) {
        let [r, g, b] = [0, 0, 0];
        for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
          r += px(2 * i + dx, 2 * j + dy, 0) / 4;
          g += px(2 * i + dx, 2 * j + dy, 1) / 4;
          b += px(2 * i + dx, 2 * j + dy, 2) / 4;
        }
        u[j * (width / 2) + i] = Math.min(255, Math.max(0, Math.round(-0.168736 * r - 0.331264 * g + 0.5 * b + 128)));
        v[j * (width / 2) + i] = Math.min(255, Math.max(0, Math.round(0.5 * r - 0.418688 * g - 0.081312 * b + 128)));
      }
    }
    parts.push(Buffer.from('FRAME\n'), y, u, v);
  }
  writeFileSync(path, Buffer.concat(parts));
}
