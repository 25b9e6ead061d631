// Detection labels (render.ts labelRects / drawDetections): no label hides
// another, every label stays inside the image, and each is drawn where
// labelRects says. Synthetic boxes, and the boxes of Yolo-Fastest on dog.jpg
// (where 'cat 0.55' used to sit under 'dog 0.65').

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { classColor, drawDetections, labelRects, textScale, type BoxLabel, type LabelRect } from '../../explainers/render.js';
import { SHARED_MODELS } from '../fixtures/onnx/models.js';

function blankImage(width: number, height: number) {
  return { width, height, data: new Uint8ClampedArray(width * height * 4) };
}

function expectApart(rects: (LabelRect | null)[], width: number, height: number): void {
  const placed = rects.filter((r): r is LabelRect => r !== null);
  for (const r of placed) {
    expect(r[0]).toBeGreaterThanOrEqual(0);
    expect(r[1]).toBeGreaterThanOrEqual(0);
    expect(r[2]).toBeLessThanOrEqual(width);
    expect(r[3]).toBeLessThanOrEqual(height);
  }
  for (let i = 0; i < placed.length; i++) {
    for (let j = i + 1; j < placed.length; j++) {
      const [a, b] = [placed[i], placed[j]];
      const overlap = a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
      expect(overlap, `labels ${i} [${a.join(', ')}] and ${j} [${b.join(', ')}]`).toBe(false);
    }
  }
}

describe('detection labels', () => {
  // Nested and touching boxes, one at the top edge (no room above), one at the right and bottom edges.
  const boxes: BoxLabel[] = [
    { box: [20, 40, 150, 130], label: 'dog 0.65', classId: 16 },
    { box: [22, 42, 120, 110], label: 'cat 0.55', classId: 15 },
    { box: [18, 38, 100, 90], label: 'person 0.40', classId: 0 },
    { box: [60, 0, 180, 50], label: 'car 0.88', classId: 2 },
    { box: [150, 100, 200, 150], label: 'bicycle 0.30', classId: 1 },
    { box: [30, 45, 60, 70] },
  ];

  test('synthetic boxes: label rectangles do not intersect and stay inside the image', () => {
    const rects = labelRects(200, 150, boxes, 1);
    expect(rects[5]).toBeNull();
    expectApart(rects, 200, 150);
    // The first box keeps the preferred place: above it, at its left edge.
    expect(rects[0]!.slice(0, 2)).toEqual([20, 40 - 9]);
  });

  test('drawDetections draws each label where labelRects puts it', () => {
    const img = blankImage(200, 150);
    drawDetections(img, boxes, { scale: 1 });
    labelRects(200, 150, boxes, 1).forEach((r, i) => {
      if (!r) return;
      // The background's top-left pixel is the box's color (labels come after every box line).
      const at = (r[1] * 200 + r[0]) * 4;
      expect(Array.from(img.data.subarray(at, at + 3)), `label ${i}`).toEqual(classColor(boxes[i].classId!));
    });
  });

  test('larger scales and a crowded column of identical boxes', () => {
    const same: BoxLabel[] = Array.from({ length: 6 }, (_, k) => ({ box: [100, 200, 400, 500], label: `class${k} 0.${9 - k}0`, classId: k }));
    for (const scale of [1, 2, 3]) expectApart(labelRects(640, 600, same, scale), 640, 600);
  });

  const detections = join(SHARED_MODELS, 'yolo_fastest_detections.json');
  test.skipIf(!existsSync(detections))('Yolo-Fastest on dog.jpg: cat and dog labels apart', () => {
    const ref = JSON.parse(readFileSync(detections, 'utf8')) as { images: Record<string, { size: [number, number]; detections: { cls: number; name: string; score: number; box: number[] }[] }> };
    const { size, detections: found } = ref.images['dog.jpg'];
    const labelled = found.map((d) => ({ box: d.box, label: `${d.name} ${d.score.toFixed(2)}`, classId: d.cls }));
    expect(labelled.map((d) => d.label)).toContain('cat 0.55');
    expectApart(labelRects(size[0], size[1], labelled, textScale(size[0], size[1])), size[0], size[1]);
  });
});
