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
const { hasRenderMalloc, withRenderMalloc } = await import('../src/process-env.ts');
if (process.argv[2] === 'sync' && !hasRenderMalloc()) {
  // glibc reads its malloc settings at start: `sync` runs again in a child that has them (src/process-env.ts).
  // The child has its own process group, so a Ctrl-C reaches it once, through here.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: withRenderMalloc(process.env), detached: true });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (error) => {
    process.stderr.write(`beatsync: ${error.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
} else {
  await import('../src/cli/main.ts');
}
