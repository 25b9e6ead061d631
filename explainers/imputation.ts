// Noisy linear imputation, the "remove" step of ROAD (Rong et al. 2022, "A
// Consistent and Efficient Evaluation Strategy for Attribution Methods", §4):
// every removed pixel takes the weighted mean of its 8 neighbours (weight 1/6
// for the 4 direct ones, 1/12 for the diagonals; neighbours outside the image
// drop out of the mean), removed neighbours included, so the removed pixels of
// a channel solve one sparse linear system
//
//   (sum_{j valid} w_j) x_i - sum_{j removed} w_j x_j = sum_{j kept} w_j v_j,
//
// and then get N(0, noise^2) added. The paper (and pytorch-grad-cam, which
// copies its code) solve it with scipy's sparse direct solver.
//
// Choice here: a CPU solve, in float64, by conjugate gradients with a Jacobi
// (diagonal) preconditioner. The matrix is symmetric (neighbour weights are
// symmetric) and positive definite whenever one pixel is kept (an M-matrix,
// weakly diagonally dominant and irreducible through the 8-neighbourhood), so
// CG converges to the same solution as the direct solve, in O(n) memory and
// with no dependency. A GPU Jacobi smoothing would need thousands of sweeps on
// large holes (its error decays like a diffusion), which costs more than this
// solve; the imputed images are then scored on the GPU in one batch.

/** Neighbour offsets [dy, dx] and weights of the imputation stencil (they sum to 1). */
const STENCIL: readonly [number, number, number][] = [
  [-1, -1, 1 / 12], [-1, 0, 1 / 6], [-1, 1, 1 / 12],
  [0, -1, 1 / 6], [0, 1, 1 / 6],
  [1, -1, 1 / 12], [1, 0, 1 / 6], [1, 1, 1 / 12],
];

export interface ImputeOptions {
  /** Standard deviation of the Gaussian noise added to imputed values (ROAD: 0.01; 0 for none). */
  noise?: number;
  /** Uniform [0, 1) random source for the noise (deterministic runs pass a seeded one). */
  random?: () => number;
  /** Relative residual at which CG stops (default 1e-7). */
  tolerance?: number;
}

/**
 * Imputes the pixels where `removed` is 1 in a [C, H, W] image (every channel
 * at that pixel). Returns a new image; kept pixels are copied unchanged.
 */
export function noisyLinearImpute(image: Float32Array, shape: readonly [number, number, number], removed: Uint8Array, options: ImputeOptions = {}): Float32Array {
  const [channels, height, width] = shape;
  const plane = height * width;
  if (image.length !== channels * plane || removed.length !== plane) {
    throw new Error(`noisyLinearImpute: image has ${image.length} values and mask ${removed.length}, expected ${channels}x${height}x${width} and ${height}x${width}`);
  }
  const out = Float32Array.from(image);
  // Unknowns: the removed pixels, numbered 0..n-1.
  const unknownOf = new Int32Array(plane).fill(-1);
  const pixels: number[] = [];
  for (let p = 0; p < plane; p++) if (removed[p]) unknownOf[p] = pixels.push(p) - 1;
  const n = pixels.length;
  if (n === 0) return out;
  if (n === plane) throw new Error('noisyLinearImpute: every pixel is removed; nothing to impute from');

  // The matrix in CSR-like form: diagonal, and the removed neighbours of each unknown.
  const diag = new Float64Array(n);
  const rowStart = new Int32Array(n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  // Kept neighbours feed the right-hand side: (pixel, weight) per unknown.
  const knownStart = new Int32Array(n + 1);
  const knownPix: number[] = [];
  const knownW: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = Math.floor(pixels[i] / width);
    const x = pixels[i] % width;
    for (const [dy, dx, w] of STENCIL) {
      const yy = y + dy;
      const xx = x + dx;
      if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
      diag[i] += w;
      const q = yy * width + xx;
      const j = unknownOf[q];
      if (j >= 0) {
        cols.push(j);
        vals.push(w);
      } else {
        knownPix.push(q);
        knownW.push(w);
      }
    }
    rowStart[i + 1] = cols.length;
    knownStart[i + 1] = knownPix.length;
  }
  // A v = diag * v - (removed-neighbour weights) v
  const apply = (v: Float64Array, result: Float64Array) => {
    for (let i = 0; i < n; i++) {
      let s = diag[i] * v[i];
      for (let k = rowStart[i]; k < rowStart[i + 1]; k++) s -= vals[k] * v[cols[k]];
      result[i] = s;
    }
  };

  const noise = options.noise ?? 0.01;
  const random = options.random ?? Math.random;
  const tolerance = options.tolerance ?? 1e-7;
  for (let c = 0; c < channels; c++) {
    const base = c * plane;
    const b = new Float64Array(n);
    let boundary = 0;
    let boundaryWeight = 0;
    for (let i = 0; i < n; i++) {
      for (let k = knownStart[i]; k < knownStart[i + 1]; k++) {
        b[i] += knownW[k] * image[base + knownPix[k]];
        boundaryWeight += knownW[k];
      }
      boundary += b[i];
    }
    // Start from the weighted mean of the kept neighbours: large holes converge faster than from 0.
    const x = new Float64Array(n).fill(boundary / boundaryWeight);
    conjugateGradient(apply, diag, b, x, tolerance, 20 * n + 100);
    for (let i = 0; i < n; i++) out[base + pixels[i]] = x[i] + (noise ? noise * gaussian(random) : 0);
  }
  return out;
}

/** Solves A x = b in place (x holds the start), A symmetric positive definite, Jacobi-preconditioned. */
function conjugateGradient(apply: (v: Float64Array, out: Float64Array) => void, diag: Float64Array, b: Float64Array, x: Float64Array, tolerance: number, maxIterations: number): void {
  const n = b.length;
  const r = new Float64Array(n);
  const z = new Float64Array(n);
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  apply(x, q);
  let bnorm = 0;
  for (let i = 0; i < n; i++) {
    r[i] = b[i] - q[i];
    bnorm += b[i] * b[i];
  }
  const stop = tolerance * tolerance * Math.max(bnorm, 1e-30);
  let rz = 0;
  for (let i = 0; i < n; i++) {
    z[i] = r[i] / diag[i];
    p[i] = z[i];
    rz += r[i] * z[i];
  }
  for (let it = 0; it < maxIterations; it++) {
    let rr = 0;
    for (let i = 0; i < n; i++) rr += r[i] * r[i];
    if (rr <= stop) return;
    apply(p, q);
    let pq = 0;
    for (let i = 0; i < n; i++) pq += p[i] * q[i];
    const alpha = rz / pq;
    for (let i = 0; i < n; i++) {
      x[i] += alpha * p[i];
      r[i] -= alpha * q[i];
    }
    let rzNext = 0;
    for (let i = 0; i < n; i++) {
      z[i] = r[i] / diag[i];
      rzNext += r[i] * z[i];
    }
    const beta = rzNext / rz;
    rz = rzNext;
    for (let i = 0; i < n; i++) p[i] = z[i] + beta * p[i];
  }
}

/** Standard normal sample (Box-Muller). */
export function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

