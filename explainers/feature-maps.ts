// Looking at what a layer computes, without a target:
//  - featureMapGrid: a layer's channels as images, the k most active first
//    (by mean activation over the positions), each min-max scaled on its own,
//    colorized and laid out in a grid (Zeiler & Fergus 2014, Fig. 2 show such
//    per-channel activations; Yosinski et al. 2015's toolbox the same grid);
//  - convFilters: a convolution's weights as tiles: a first layer's filters
//    (3 input channels) as RGB images, deeper filters as one grey tile per
//    input channel (Krizhevsky et al. 2012, Fig. 3; Zeiler & Fergus Fig. 2).
// Weights are read from the graph (ExplainableModel.nodes() / constant(), as
// the file stores them: before any Conv-BatchNormalization folding).

import { exclusive, gather, mean, scopeAsync, type Tensor } from '../engine/index.js';
import { ExplainError, LayerNotFound, NotASpatialLayer, closeMatches } from './errors.js';
import { modelGraph } from './graph.js';
import type { ExplainableModel } from '../engine/index.js';
import { colorize, grid, type Colormap } from './render.js';
import type { RgbaImage } from './image.js';

export interface FeatureMapOptions {
  /** How many channels (default 16), the most active first. */
  count?: number;
  /** Show exactly these channels, in this order, instead of the top `count`. */
  channels?: readonly number[];
  /** Grid columns (default ceil(sqrt(count))). */
  columns?: number;
  /** Integer magnification of each tile (nearest neighbour; default: the smallest making tiles >= 64 px on their shorter side). */
  scale?: number;
  colormap?: Colormap;
  /** White pixels between tiles (default 2). */
  gap?: number;
}

export interface TileGrid {
  image: RgbaImage;
  /** Tile size in pixels (after magnification) and grid layout. */
  tileWidth: number;
  tileHeight: number;
  columns: number;
  rows: number;
}

export interface FeatureMapGrid extends TileGrid {
  layer: string;
  /** The channels shown, in grid order (row-major). */
  channels: number[];
  /** Their mean activations. */
  means: number[];
}

/** Nearest-neighbour magnification by an integer factor (keeps single activations visible as blocks). */
export function magnify(img: RgbaImage, factor: number): RgbaImage {
  if (factor === 1) return img;
  const width = img.width * factor;
  const height = img.height * factor;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const src = (Math.floor(y / factor) * img.width + Math.floor(x / factor)) * 4;
      data.set(img.data.subarray(src, src + 4), (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

/** Scales values to [0, 1] (all zero when constant). */
export function minMax(values: Float32Array): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const range = hi - lo;
  return values.map((v) => (range > 0 ? (v - lo) / range : 0));
}

function tileGrid(tiles: RgbaImage[], options: { columns?: number; scale?: number; gap?: number }): TileGrid {
  const { width, height } = tiles[0];
  const scale = options.scale ?? Math.max(1, Math.ceil(64 / Math.min(width, height)));
  if (!Number.isInteger(scale) || scale < 1) throw new ExplainError(`scale must be a positive integer, got ${scale}`);
  const columns = Math.min(options.columns ?? Math.ceil(Math.sqrt(tiles.length)), tiles.length);
  const image = grid(tiles.map((t) => magnify(t, scale)), columns, options.gap ?? 2);
  return { image, tileWidth: width * scale, tileHeight: height * scale, columns, rows: Math.ceil(tiles.length / columns) };
}

/** The activations of `layer` for the first image of `input`, as a grid of its most active channels. */
export async function featureMapGrid(model: ExplainableModel, input: Tensor, layer: string, options: FeatureMapOptions = {}): Promise<FeatureMapGrid> {
  const info = model.layers().find((l) => l.name === layer);
  if (!info) throw new LayerNotFound(layer, closeMatches(layer, model.layers().map((l) => l.name)));
  if (info.shape.length !== 4) throw new NotASpatialLayer(layer, info.shape);
  const { means, maps, channels, h, w } = await exclusive(() => scopeAsync(async () => {
    const { kept } = model.run({ [model.inputs[0].name]: input }, { keep: [layer] });
    const a = kept[layer];
    const [, c, h, w] = a.shape;
    const first = a.shape[0] === 1 ? a : gather(a, [0], 0);
    const means = await mean(first, [0, 2, 3]).data();
    const channels = options.channels ? [...options.channels] : topChannels(means, options.count ?? 16);
    for (const k of channels) if (!Number.isInteger(k) || k < 0 || k >= c) throw new ExplainError(`channel ${k} is out of range for layer '${layer}' (${c} channels)`);
    const maps = await gather(first, channels, 1).data();
    return { means, maps, channels, h, w };
  }));
  const tiles = channels.map((_, i) => colorize(minMax(maps.subarray(i * h * w, (i + 1) * h * w)), w, h, options.colormap ?? 'viridis'));
  return { layer, channels, means: channels.map((k) => means[k]), ...tileGrid(tiles, options) };
}

/** Indices of the `count` largest values, largest first (ties: lower index first). */
export function topChannels(values: ArrayLike<number>, count: number): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[b] - values[a] || a - b);
  return order.slice(0, Math.max(1, Math.min(count, values.length)));
}

// ---- convolution filters --------------------------------------------------------------

export interface FilterOptions {
  /** Which output filters (default: the first `count`). */
  filters?: readonly number[];
  /** Default 32 for RGB tiles, 8 filters (rows) for per-channel tiles. */
  count?: number;
  /** Per-channel tiles: at most this many input channels per filter (default 16). */
  maxChannels?: number;
  /** A first layer's input channel order; tiles are shown as RGB. */
  bgr?: boolean;
  columns?: number;
  scale?: number;
  gap?: number;
}

export interface FilterGrid extends TileGrid {
  /** The Conv node and its weight tensor. */
  node: string;
  weight: string;
  /** [out, in / groups, kh, kw] */
  shape: number[];
  /** 'rgb': one tile per filter; 'channels': a row per filter, a tile per input channel. */
  mode: 'rgb' | 'channels';
  filters: number[];
  /** The largest |weight| among those shown: tiles map [-scale, scale] to [0, 1]. */
  range: number;
}

/**
 * The weights of the Conv that produces `layer` (its output tensor name, or the
 * node's name). Tiles map weights symmetrically, w -> 0.5 + 0.5 w / max|w|
 * over the filters shown, so grey is 0 and filters are comparable.
 */
export function convFilters(model: ExplainableModel, layer: string, options: FilterOptions = {}): FilterGrid {
  const g = modelGraph(model, 'filters');
  const node = g.nodes.find((n) => n.op === 'Conv' && (n.outputs[0] === layer || n.name === layer));
  if (!node) {
    const convs = g.nodes.filter((n) => n.op === 'Conv');
    throw new LayerNotFound(layer, closeMatches(layer, convs.flatMap((n) => [n.outputs[0], n.name])));
  }
  const weight = g.constant(node.inputs[1]);
  if (!weight || weight.shape.length !== 4) throw new ExplainError(`Conv '${node.name}': its weight '${node.inputs[1]}' is not a constant 4-D tensor`);
  const [out, inPerGroup, kh, kw] = weight.shape;
  const mode = inPerGroup === 3 ? 'rgb' : 'channels';
  const filters = options.filters ? [...options.filters] : Array.from({ length: Math.min(options.count ?? (mode === 'rgb' ? 32 : 8), out) }, (_, i) => i);
  for (const f of filters) if (!Number.isInteger(f) || f < 0 || f >= out) throw new ExplainError(`filter ${f} is out of range for Conv '${node.name}' (${out} filters)`);
  const channels = mode === 'rgb' ? 3 : Math.min(options.maxChannels ?? 16, inPerGroup);
  const plane = kh * kw;
  const at = (f: number, c: number, i: number) => weight.data[(f * inPerGroup + c) * plane + i];
  let range = 0;
  for (const f of filters) for (let c = 0; c < channels; c++) for (let i = 0; i < plane; i++) range = Math.max(range, Math.abs(at(f, c, i)));
  const level = (v: number) => Math.round((range > 0 ? 0.5 + (0.5 * v) / range : 0.5) * 255);
  const tiles: RgbaImage[] = [];
  for (const f of filters) {
    if (mode === 'rgb') {
      const data = new Uint8ClampedArray(plane * 4);
      for (let i = 0; i < plane; i++) {
        for (let k = 0; k < 3; k++) data[i * 4 + k] = level(at(f, options.bgr ? 2 - k : k, i));
        data[i * 4 + 3] = 255;
      }
      tiles.push({ width: kw, height: kh, data });
    } else {
      for (let c = 0; c < channels; c++) {
        const data = new Uint8ClampedArray(plane * 4);
        for (let i = 0; i < plane; i++) data.set([level(at(f, c, i)), level(at(f, c, i)), level(at(f, c, i)), 255], i * 4);
        tiles.push({ width: kw, height: kh, data });
      }
    }
  }
  const layout = tileGrid(tiles, {
    // A row per filter, a column per input channel (single-channel filters, as depthwise ones: a square grid).
    columns: mode === 'rgb' || channels === 1 ? options.columns : channels,
    scale: options.scale ?? Math.max(1, Math.ceil(24 / Math.min(kh, kw))),
    gap: options.gap,
  });
  return { node: node.name, weight: node.inputs[1], shape: [...weight.shape], mode, filters, range, ...layout };
}
