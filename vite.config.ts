// Builds the web page (src/web) into dist/web, which the BeatSync server serves at `/`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('./src/web'),
  base: '/',
  publicDir: false,
  build: {
    outDir: here('./dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    // `npx vite` for page work: the API comes from a running `beatsync serve` on 8080.
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
