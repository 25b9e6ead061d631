// cli/progress.ts: the bar line (pure formatting, ETA and rate math) and its
// drawing on a terminal stream (rewritten in place with \r; nothing elsewhere).

import { describe, expect, test } from 'vitest';
import { duration, eta, formatProgress, progressBar, rate } from '../../cli/progress.js';

describe('progress bar formatting', () => {
  test('ETA = elapsed / done * (total - done); unknown before the first item; 0 when done', () => {
    expect(eta(0, 10, 5000)).toBeNull();
    expect(eta(2, 10, 5000)).toBe(20_000);
    expect(eta(3, 4, 3000)).toBe(1000);
    expect(eta(4, 4, 3000)).toBe(0);
    expect(eta(5, 4, 3000)).toBe(0);
  });

  test('durations and rates', () => {
    expect(duration(0)).toBe('0:00');
    expect(duration(61_400)).toBe('1:01');
    expect(duration(3_725_000)).toBe('1:02:05');
    expect(rate(0, 1000, 'images')).toBe('-- images/s');
    expect(rate(5, 2000, 'images')).toBe('2.5 images/s');
    expect(rate(1, 3000)).toBe('0.33 it/s');
    expect(rate(120, 4000)).toBe('30 it/s');
  });

  test('one line: label, bar, done/total, rate, ETA', () => {
    expect(formatProgress({ label: 'explain', done: 0, total: 4, elapsedMs: 0, width: 8, unit: 'images' })).toBe('explain [        ] 0/4 -- images/s ETA --:--');
    expect(formatProgress({ label: 'explain', done: 1, total: 4, elapsedMs: 2000, width: 8, unit: 'images' })).toBe('explain [##      ] 1/4 0.50 images/s ETA 0:06');
    expect(formatProgress({ label: 'scorecam', done: 64, total: 64, elapsedMs: 8000, width: 4 })).toBe('scorecam [####] 64/64 8.0 it/s ETA 0:00');
    expect(formatProgress({ label: 'x', done: 3, total: 0, elapsedMs: 1000, width: 2 })).toBe('x [  ] 3/0 3.0 it/s ETA 0:00');
  });

  test('drawn in place on a terminal, padded over a longer previous line; nothing on a pipe or under --json', () => {
    const written: string[] = [];
    let clock = 0;
    const stream = { isTTY: true, write: (s: string) => void written.push(s) } as unknown as NodeJS.WriteStream;
    const bar = progressBar('run', false, { stream, now: () => clock, unit: 'images' });
    clock = 1000;
    bar.onProgress!(1, 10);
    clock = 100_000;
    bar.onProgress!(10, 10);
    bar.end();
    expect(written[0]).toBe('\rrun [###                           ] 1/10 1.0 images/s ETA 0:09');
    expect(written[1].startsWith('\rrun [##############################] 10/10 0.10 images/s ETA 0:00')).toBe(true);
    expect(written[1].length).toBeGreaterThanOrEqual(written[0].length);
    expect(written[2]).toBe('\n');
    const pipe = { isTTY: false, write: () => expect.unreachable() } as unknown as NodeJS.WriteStream;
    const none = progressBar('run', false, { stream: pipe });
    expect(none.onProgress).toBeUndefined();
    none.end();
    expect(progressBar('run', true, { stream }).onProgress).toBeUndefined();
  });
});
