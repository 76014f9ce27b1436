// A real worker process for tests: opens the job system on <dataDir> with workers running, and stays
// up until killed. Usage: node worker-process.ts <dataDir> <test|product>. With an IPC channel it also
// submits jobs sent as { submit: { type, input } }. SIGTERM stops it gracefully.
import { openJobSystem } from '../../src/jobs/index.ts';
import { workerConfig } from './worker-config.ts';

const [dataDir, mode] = process.argv.slice(2);
if (!dataDir || (mode !== 'test' && mode !== 'product')) {
  console.error('usage: worker-process.ts <dataDir> <test|product>');
  process.exit(2);
}

const sys = await openJobSystem(workerConfig(dataDir, mode));
await sys.start();
process.on('message', (message: { submit?: { type: string; input: unknown } }) => {
  if (message.submit) void sys.submit(message.submit.type, message.submit.input);
});
process.on('SIGTERM', () => {
  void sys.stop({ graceMs: 5_000 }).then(() => sys.close()).then(() => process.exit(0));
});
