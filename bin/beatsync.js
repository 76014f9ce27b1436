#!/usr/bin/env node
// Entry point for `npx beatsync`: Node 24 runs the TypeScript sources directly.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`beatsync needs Node 24 or newer (this is ${process.version}). Run it through npm/npx in the project, which brings Node 24.\n`);
  process.exit(2);
}
await import('../src/cli/main.ts');
