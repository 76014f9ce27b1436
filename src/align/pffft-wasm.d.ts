// Types for the parts of the PFFFT Emscripten module (SIMD build) that fft.ts uses.
declare module '@echogarden/pffft-wasm/simd' {
  export interface PffftModule {
    HEAPF32: Float32Array;
    _pffft_new_setup(size: number, kind: number): number;
    _pffft_destroy_setup(setup: number): void;
    _pffft_transform_ordered(setup: number, input: number, output: number, work: number, direction: number): void;
    _pffft_aligned_malloc(bytes: number): number;
    _pffft_aligned_free(ptr: number): void;
  }
  const factory: (moduleArg?: object) => Promise<PffftModule>;
  export default factory;
}
