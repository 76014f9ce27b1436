// A tiny process that uses the SQLite job store, for tests that kill -9 it or race it against others.
// Usage: node sqlite-child.ts submit|hold|drain <dbFile> [count|workerId]
import { SqliteJobStore } from '../sqlite-store.ts';

const [command, file, arg] = process.argv.slice(2);
const store = SqliteJobStore.open(file);

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

if (command === 'submit') {
  // Prints each id only after submit resolved; the parent kills us at a random moment.
  const count = Number(arg ?? 1000);
  for (let i = 0; i < count; i++) {
    const { job } = await store.submit({ type: 'test.echo', input: { i } });
    say(job.id);
  }
  setInterval(() => {}, 1000);
} else if (command === 'hold') {
  // Claims one job and never finishes it (the parent kills us).
  const claim = await store.claim('holder', ['test.echo'], 3600_000);
  say(claim ? claim.job.id : 'none');
  setInterval(() => {}, 1000);
} else if (command === 'drain') {
  // Claims and completes until nothing is left; prints every job it completed.
  for (;;) {
    const claim = await store.claim(arg ?? 'drainer', ['test.echo'], 60_000);
    if (!claim) break;
    await store.complete(claim.job.id, claim.leaseToken, { by: arg });
    say(claim.job.id);
  }
  await store.close();
} else {
  process.stderr.write(`unknown command ${command}\n`);
  process.exit(2);
}
