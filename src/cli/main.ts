// Entry of the `beatsync` command (bin/beatsync.js imports it): wires Ctrl-C to cancellation and sets the exit code.
import { main } from './app.ts';
import type { CliIo } from './commands.ts';
import { langFromEnv, reportError } from './output.ts';

const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  // First Ctrl-C: cancel (ffmpeg is killed, partial files removed); second: leave now.
  if (++interrupts > 1) process.exit(130);
  controller.abort();
});
const io: CliIo = { stdout: process.stdout, stderr: process.stderr, lang: langFromEnv(), signal: controller.signal };
try {
  process.exitCode = await main(process.argv.slice(2), io);
} catch (error) {
  process.exitCode = reportError(error, io, process.argv.includes('--json'));
}
