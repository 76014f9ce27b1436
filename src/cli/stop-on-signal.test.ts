// stopOnSignal in a real child process: real signals, exit codes and the hooks' order.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';

const MODULE = new URL('./stop-on-signal.ts', import.meta.url).href;

/**
 * Runs stopOnSignal in a child process and sends it `signals`, each once the previous one is seen;
 * its stop lasts until the parent writes a line, so later signals arrive while it runs.
 */
async function run(signals: NodeJS.Signals[], failStop: boolean): Promise<{ code: number | null; out: string }> {
  const script = `
    import { stopOnSignal } from ${JSON.stringify(MODULE)};
    const released = new Promise((resolve) => process.stdin.once('data', resolve));
    const exit = stopOnSignal(async (s) => {
      process.stdout.write('stop ' + s + '\\n');
      await released;
      if (${failStop}) throw new Error('boom');
    }, { onSecondSignal: (s) => process.stdout.write('second ' + s + '\\n'), onError: (e) => process.stdout.write('error ' + e.message + '\\n') });
    process.stdout.write('ready\\n');
    const code = await exit;
    process.stdout.write('code ' + code + '\\n');
    process.exit(code);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  child.stdin.on('error', () => {}); // the child may be gone already (second signal)
  let out = '';
  const waiting: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiting) if (out.includes(w.text)) w.resolve();
  });
  const seen = (text: string) => new Promise<void>((resolve) => {
    if (out.includes(text)) resolve();
    else waiting.push({ text, resolve });
  });

  await seen('ready\n');
  child.kill(signals[0]);
  await seen(`stop ${signals[0]}\n`);
  for (const s of signals.slice(1)) {
    child.kill(s);
    await seen(`second ${s}\n`);
  }
  child.stdin.end('go\n');
  const [code] = await exited;
  return { code: code as number | null, out };
}

test('a signal runs the stop and exits 0', { timeout: 20_000 }, async () => {
  const { code, out } = await run(['SIGTERM'], false);
  assert.equal(code, 0);
  assert.equal(out, 'ready\nstop SIGTERM\ncode 0\n');
});

test('a second signal during the stop gives up with 1', { timeout: 20_000 }, async () => {
  const { code, out } = await run(['SIGTERM', 'SIGINT'], false);
  assert.equal(code, 1);
  assert.equal(out, 'ready\nstop SIGTERM\nsecond SIGINT\ncode 1\n');
});

test('a failing stop is reported and exits 1', { timeout: 20_000 }, async () => {
  const { code, out } = await run(['SIGINT'], true);
  assert.equal(code, 1);
  assert.equal(out, 'ready\nstop SIGINT\nerror boom\ncode 1\n');
});
