#!/usr/bin/env node
// Entry point for `npx beatsync`: Node 24 runs the TypeScript sources directly.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`beatsync needs Node 24 or newer (this is ${process.version}). Run it through npm/npx in the project, which brings Node 24.\n`);
  process.exit(2);
}
// Node keeps the stripped TypeScript and V8's code in a cache (os.tmpdir()/node-compile-cache unless
// NODE_COMPILE_CACHE says where): without it every start strips ~100 files again, 0.25 s of CPU and
// ~35 MB of resident memory (BENCHMARKS.md, "Start-up"). Job processes inherit the directory.
const { enableCompileCache } = await import('node:module');
try {
  enableCompileCache?.();
} catch {
  // an unwritable cache only costs speed
}
await import('../src/cli/main.ts');
