// Real FFTs through PFFFT compiled to SIMD WebAssembly: one cached plan (setup + buffers) per size.
import loadPffft from '@echogarden/pffft-wasm/simd';
import type { PffftModule } from '@echogarden/pffft-wasm/simd';

const PFFFT_REAL = 0;
const FORWARD = 0;
const BACKWARD = 1;

let modulePromise: Promise<PffftModule> | null = null;
const plans = new Map<number, RealFft>();

/**
 * A real FFT of one size. Spectra use PFFFT's ordered layout: [DC, Nyquist, re1, im1, re2, im2, …].
 * The inverse is unscaled (inverse(forward(x)) = size × x).
 */
export interface RealFft {
  readonly size: number;
  /** Transforms `input` (zero-padded when shorter than size) into `output` (length ≥ size). */
  forward(input: Float32Array, output: Float32Array): void;
  inverse(input: Float32Array, output: Float32Array): void;
  /**
   * The transform's own input and output buffers (`size` floats each, inside WASM memory), to fill and
   * read in place instead of copying through `forward`/`inverse`. `transform` reads input and writes
   * output; the input is left as it was. Every plan of one size shares these buffers, and a new plan may
   * move them: take the views again after anything that may create a plan or run another transform.
   */
  input(): Float32Array;
  output(): Float32Array;
  transform(direction: 'forward' | 'inverse'): void;
}

/** Smallest size ≥ n that PFFFT accepts for real transforms (a power of two, at least 32). */
export function fftSizeFor(n: number): number {
  let size = 32;
  while (size < n) size *= 2;
  return size;
}

/** Returns the cached plan for `size` (a power of two ≥ 32), loading the WASM module on first use. */
export async function getFft(size: number): Promise<RealFft> {
  const cached = plans.get(size);
  if (cached) return cached;
  if (size < 32 || (size & (size - 1)) !== 0) throw new RangeError(`FFT size must be a power of two ≥ 32, got ${size}`);
  modulePromise ??= loadPffft();
  const mod = await modulePromise;
  const again = plans.get(size);
  if (again) return again;
  const plan = makePlan(mod, size);
  plans.set(size, plan);
  return plan;
}

function makePlan(mod: PffftModule, size: number): RealFft {
  const setup = mod._pffft_new_setup(size, PFFFT_REAL);
  if (!setup) throw new RangeError(`PFFFT cannot do a real FFT of size ${size}`);
  const bytes = size * 4;
  const inPtr = mod._pffft_aligned_malloc(bytes);
  const outPtr = mod._pffft_aligned_malloc(bytes);
  const workPtr = mod._pffft_aligned_malloc(bytes);
  let views: { heap: Float32Array; input: Float32Array; output: Float32Array } | null = null;
  const current = () => {
    const heap = mod.HEAPF32;
    if (views?.heap !== heap) views = { heap, input: heap.subarray(inPtr >> 2, (inPtr >> 2) + size), output: heap.subarray(outPtr >> 2, (outPtr >> 2) + size) };
    return views;
  };
  const run = (input: Float32Array, output: Float32Array, direction: number): void => {
    // The heap view is re-read each call: it is replaced whenever WASM memory grows.
    const heap = mod.HEAPF32;
    const at = inPtr >> 2;
    const n = Math.min(input.length, size);
    heap.set(n === input.length ? input : input.subarray(0, n), at);
    if (n < size) heap.fill(0, at + n, at + size);
    mod._pffft_transform_ordered(setup, inPtr, outPtr, workPtr, direction);
    output.set(mod.HEAPF32.subarray(outPtr >> 2, (outPtr >> 2) + size));
  };
  return {
    size,
    forward: (input, output) => run(input, output, FORWARD),
    inverse: (input, output) => run(input, output, BACKWARD),
    input: () => current().input,
    output: () => current().output,
    transform: (direction) => mod._pffft_transform_ordered(setup, inPtr, outPtr, workPtr, direction === 'forward' ? FORWARD : BACKWARD),
  };
}
