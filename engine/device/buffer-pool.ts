// GPU buffers are recycled, not freed: creating a buffer costs far more than a
// dispatch. Sizes are rounded up to a size class (at most 25% slack) so a freed
// buffer fits the next request of a similar size; free lists are keyed by
// size class and usage.

export interface PoolStats {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers kept on free lists for reuse. */
  freeBuffers: number;
  freeBytes: number;
  /** Buffers ever created by the pool (a steady workload stops growing this). */
  created: number;
}

/** Round up to 4 steps per power of two, minimum 256 bytes. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const pow = 2 ** Math.floor(Math.log2(bytes - 1));
  const step = pow / 4;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  private counters = { freeBytes: 0, freeBuffers: 0, liveBytes: 0, created: 0 };

  constructor(
    private device: GPUDevice,
    /** Free-list bytes kept before the oldest free buffers are destroyed. */
    private maxFreeBytes = 1 << 30,
  ) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(key(size, usage));
    let buffer = list?.pop();
    if (buffer) {
      this.counters.freeBytes -= size;
      this.counters.freeBuffers--;
    } else {
      buffer = this.device.createBuffer({ size, usage });
      this.counters.created++;
    }
    this.live.add(buffer);
    this.counters.liveBytes += size;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.live.delete(buffer)) throw new Error('BufferPool.release: buffer is not live (double release?)');
    this.counters.liveBytes -= buffer.size;
    const k = key(buffer.size, buffer.usage);
    let list = this.free.get(k);
    if (!list) this.free.set(k, (list = []));
    list.push(buffer);
    this.counters.freeBytes += buffer.size;
    this.counters.freeBuffers++;
  }

  /**
   * Called by the runtime right after a submit: a released buffer may still be
   * used by commands recorded but not yet submitted, so it is never destroyed
   * at release time, only here.
   */
  afterSubmit(): void {
    if (this.counters.freeBytes > this.maxFreeBytes) this.trim(this.maxFreeBytes / 2);
  }

  /** Destroys free buffers until at most `keepBytes` remain pooled (only with nothing pending). */
  trim(keepBytes = 0): void {
    for (const [k, list] of this.free) {
      while (list.length && this.counters.freeBytes > keepBytes) {
        const b = list.shift()!;
        this.counters.freeBytes -= b.size;
        this.counters.freeBuffers--;
        b.destroy();
      }
      if (!list.length) this.free.delete(k);
    }
  }

  stats(): PoolStats {
    return {
      liveBuffers: this.live.size,
      liveBytes: this.counters.liveBytes,
      freeBuffers: this.counters.freeBuffers,
      freeBytes: this.counters.freeBytes,
      created: this.counters.created,
    };
  }
}

function key(size: number, usage: number): string {
  return `${usage}:${size}`;
}
