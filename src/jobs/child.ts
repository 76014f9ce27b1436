// The process one job attempt runs in (forked by the worker pool, leader of its own process group).
// It imports the job type's handler, runs it, and reports progress, checkpoints and the outcome over IPC.
// When the parent goes away (crash, kill -9) it kills everything it started and exits: no orphans.
import { messageFor, toBeatSyncError } from '../errors.ts';
import type { ChildMessage, ParentMessage, StartMessage } from './child-protocol.ts';
import { openFileStore } from './file-spec.ts';
import type { JobContext, JobTypeHandler } from './job-type.ts';
import { RUN_MARKER_ENV, signalRun } from './process-tree.ts';

const controller = new AbortController();
const pendingCheckpoints = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
let started = false;
let finishing = false;

function killOwnTree(signal: NodeJS.Signals): void {
  signalRun(process.pid, process.env[RUN_MARKER_ENV] ?? null, signal, [process.pid]);
}

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send || !process.connected) {
      reject(new Error('IPC channel closed'));
      return;
    }
    process.send(message, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

function exitNow(code: number): never {
  controller.abort();
  killOwnTree('SIGKILL');
  process.exit(code);
}

async function finish(message: ChildMessage): Promise<never> {
  finishing = true;
  try {
    await send(message);
  } catch {
    // The parent is gone; it will not record anything, and the next attempt redoes the work.
  }
  exitNow(0);
}

async function runAttempt(start: StartMessage): Promise<void> {
  const mod = (await import(start.handler.url)) as Record<string, unknown>;
  const handler = mod[start.handler.name] as JobTypeHandler | undefined;
  if (!handler || typeof handler.run !== 'function') {
    throw new Error(`module ${start.handler.url} has no job handler named ${start.handler.name}`);
  }
  let checkpointSeq = 0;
  const ctx: JobContext<unknown> = {
    jobId: start.jobId,
    type: start.type,
    attempt: start.attempt,
    input: handler.parseInput(start.input),
    files: await openFileStore(start.files),
    checkpoints: start.checkpoints,
    saveCheckpoint(stage, data) {
      const seq = ++checkpointSeq;
      return new Promise<void>((resolve, reject) => {
        pendingCheckpoints.set(seq, { resolve, reject });
        send({ kind: 'checkpoint', seq, stage, data }).catch(reject);
      });
    },
    progress(progress) {
      send({ kind: 'progress', progress }).catch(() => {});
    },
    signal: controller.signal,
    threads: start.threads,
    tmpDir: start.tmpDir,
  };
  const result = await handler.run(ctx);
  await finish({ kind: 'done', result });
}

process.on('message', (raw: ParentMessage) => {
  if (raw.kind === 'start') {
    if (started) return;
    started = true;
    runAttempt(raw).catch((err: unknown) => {
      const e = toBeatSyncError(err);
      return finish({ kind: 'error', error: { code: e.code, message: messageFor(e.code), retryable: e.retryable }, detail: e.detail });
    });
    return;
  }
  const pending = pendingCheckpoints.get(raw.seq);
  if (!pending) return;
  pendingCheckpoints.delete(raw.seq);
  if (raw.kind === 'checkpoint-saved') pending.resolve();
  else pending.reject(new Error(`checkpoint not saved: ${raw.message}`));
});

// The parent died or let go of us: nobody will record this attempt, so stop everything now.
process.on('disconnect', () => {
  if (!finishing) exitNow(1);
});
// Time limit, cancel or shutdown: the parent also signals the whole tree, then SIGKILLs after a grace.
process.on('SIGTERM', () => exitNow(143));
