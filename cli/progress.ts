// Progress on stderr, shared by every command: in a terminal a single line
// rewritten in place (\r) with a bar, done/total, rate and ETA; elsewhere
// (a pipe, a log file, --json) nothing, or for folder mode one plain line
// per image. formatProgress is pure (tested directly); progressBar draws it.

export interface ProgressState {
  label: string;
  done: number;
  total: number;
  /** Milliseconds since the work began. */
  elapsedMs: number;
  /** What the rate counts ('images'); default 'it'. */
  unit?: string;
  /** Bar width in characters (default 30). */
  width?: number;
}

/** m:ss, or h:mm:ss. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

/**
 * ETA in ms from the mean time per item so far: elapsed / done * (total - done);
 * null before the first item is done (no rate yet); 0 when all are done.
 */
export function eta(done: number, total: number, elapsedMs: number): number | null {
  if (done >= total) return 0;
  if (done <= 0 || !(elapsedMs > 0)) return null;
  return (elapsedMs / done) * (total - done);
}

/** Items per second, with the precision a bar needs ('2.5/s', '0.31/s', '12/s'). */
export function rate(done: number, elapsedMs: number, unit = 'it'): string {
  if (done <= 0 || !(elapsedMs > 0)) return `-- ${unit}/s`;
  const r = (done * 1000) / elapsedMs;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toPrecision(2)} ${unit}/s`;
}

/** One bar line: `label [#####     ] 3/10 1.5 images/s ETA 0:05` (no \r, no newline). */
export function formatProgress(p: ProgressState): string {
  const width = p.width ?? 30;
  const total = Math.max(p.total, 0);
  const done = Math.min(Math.max(p.done, 0), total || p.done);
  const filled = total ? Math.round((done / total) * width) : 0;
  const left = eta(done, total, p.elapsedMs);
  return `${p.label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} ${rate(done, p.elapsedMs, p.unit)} ETA ${left === null ? '--:--' : duration(left)}`;
}

export interface ProgressBar {
  /** Redraws the line (a terminal only). */
  onProgress?: (done: number, total: number) => void;
  /** Ends the line when one was drawn. */
  end(): void;
}

/**
 * A bar on `stream` (default stderr) when it is a terminal and not `quiet`
 * (--json); otherwise no onProgress and a no-op end. The line is padded to the
 * longest drawn so a shorter one leaves no stale characters.
 */
export function progressBar(label: string, quiet = false, options: { unit?: string; stream?: NodeJS.WriteStream; now?: () => number } = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY || quiet) return { end() {} };
  const now = options.now ?? (() => performance.now());
  const started = now();
  let longest = 0;
  return {
    onProgress(done, total) {
      const line = formatProgress({ label, done, total, elapsedMs: now() - started, unit: options.unit });
      longest = Math.max(longest, line.length);
      stream.write(`\r${line.padEnd(longest)}`);
    },
    end() {
      if (longest) stream.write('\n');
      longest = 0;
    },
  };
}
