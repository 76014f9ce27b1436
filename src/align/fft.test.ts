import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fftSizeFor, getFft } from './fft.ts';

test('forward FFT matches a direct DFT in the ordered layout', async () => {
  const n = 64;
  const fft = await getFft(n);
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) + 0.3 * Math.cos(i * 2.1) + (i % 5) * 0.1);
  const spec = new Float32Array(n);
  fft.forward(x, spec);
  const dft = (k: number): [number, number] => {
    let re = 0, im = 0;
    for (let i = 0; i < n; i++) {
      re += x[i] * Math.cos((2 * Math.PI * k * i) / n);
      im -= x[i] * Math.sin((2 * Math.PI * k * i) / n);
    }
    return [re, im];
  };
  assert.ok(Math.abs(spec[0] - dft(0)[0]) < 1e-4);
  assert.ok(Math.abs(spec[1] - dft(n / 2)[0]) < 1e-4);
  for (let k = 1; k < n / 2; k++) {
    const [re, im] = dft(k);
    assert.ok(Math.abs(spec[2 * k] - re) < 1e-3 && Math.abs(spec[2 * k + 1] - im) < 1e-3, `bin ${k}`);
  }
});

test('inverse(forward(x)) = size × x, with zero padding of short input', async () => {
  const fft = await getFft(1024);
  const x = Float32Array.from({ length: 700 }, (_, i) => Math.sin(i * 0.01) * (i % 3));
  const spec = new Float32Array(1024);
  const back = new Float32Array(1024);
  fft.forward(x, spec);
  fft.inverse(spec, back);
  for (let i = 0; i < 1024; i++) assert.ok(Math.abs(back[i] / 1024 - (i < 700 ? x[i] : 0)) < 1e-5);
});

test('plans are cached per size and bad sizes are refused', async () => {
  assert.equal(await getFft(4096), await getFft(4096));
  await assert.rejects(getFft(1000), RangeError);
  assert.equal(fftSizeFor(1), 32);
  assert.equal(fftSizeFor(1025), 2048);
});

test('in place: the same numbers as forward/inverse, the input left as it was, views valid after a new plan', async () => {
  const fft = await getFft(2048);
  const x = Float32Array.from({ length: 2048 }, (_, i) => Math.sin(i * 0.37) + ((i * 7919) % 13) / 13 - 0.5);
  const copied = new Float32Array(2048);
  fft.forward(x, copied);
  fft.input().set(x);
  fft.transform('forward');
  assert.deepEqual(fft.output(), copied);
  // GCC-PHAT reads the cross-spectrum (the inverse's input) after the inverse: PFFFT must not touch it.
  const spectrum = fft.output().slice();
  fft.input().set(spectrum);
  fft.transform('inverse');
  assert.deepEqual(fft.input(), spectrum);
  const back = new Float32Array(2048);
  fft.inverse(spectrum, back);
  assert.deepEqual(fft.output(), back);
  // A new plan allocates WASM memory; this one (3 × 8 MB) grows it, which detaches the old views: the views
  // taken afterwards are live.
  const before = fft.input();
  await getFft(1 << 21);
  assert.equal(before.length, 0, 'the memory grew (the old view is detached)');
  fft.input().set(x);
  fft.transform('forward');
  assert.deepEqual(fft.output(), copied);
});
