// Process checks for job tests, read from /proc: is a pid still running, who is in a process group,
// and waiting (bounded) for a condition instead of sleeping a fixed time.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasEnv, listProcesses } from '../../src/jobs/process-tree.ts';

/** True while `pid` exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Live processes whose process group is `pgid`. */
export function groupMembers(pgid: number): number[] {
  return listProcesses().filter((p) => p.pgrp === pgid && p.state !== 'Z').map((p) => p.pid);
}

/** Live processes whose command line mentions `text` (e.g. a test's unique temp directory). */
export function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const p of listProcesses()) {
    if (p.pid === process.pid || p.state === 'Z') continue;
    try {
      if (readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes(text)) out.push(p.pid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Live processes carrying env `name=value` (inherited by every child and ffmpeg of a test's workers). */
export function processesWithEnv(name: string, value: string): number[] {
  return listProcesses()
    .filter((p) => p.pid !== process.pid && p.state !== 'Z' && hasEnv(p.pid, name, value))
    .map((p) => p.pid);
}

/** Polls `check` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, stepMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}
