// Finds and kills every process a job started, read from /proc (Linux): descendants of the job's child,
// members of its process group, and anything carrying the run's environment marker. The marker matters
// because src/media starts each ffmpeg in its own process group, and an ffmpeg whose parent died is
// re-parented to init, so neither the group nor the parent link finds it any more.
import { readdirSync, readFileSync } from 'node:fs';

/** Environment variable every job child (and so every ffmpeg it starts) carries. */
export const RUN_MARKER_ENV = 'BEATSYNC_RUN_ID';

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  /** One letter from /proc/<pid>/stat: R, S, D, Z (zombie)… */
  state: string;
}

const HAS_PROC = process.platform === 'linux';

function readStat(pid: number): ProcInfo | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself hold spaces or parentheses.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, state: rest[0], ppid: Number(rest[1]), pgrp: Number(rest[2]) };
  } catch {
    return null;
  }
}

/** Every process visible in /proc (empty on systems without it). */
export function listProcesses(): ProcInfo[] {
  if (!HAS_PROC) return [];
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const info = readStat(pid);
    if (info) out.push(info);
  }
  return out;
}

/** True when /proc/<pid>/environ holds `name=value` exactly. */
export function hasEnv(pid: number, name: string, value: string): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`);
    const needle = Buffer.from(`${name}=${value}\0`);
    const at = env.indexOf(needle);
    return at === 0 || (at > 0 && env[at - 1] === 0);
  } catch {
    return false;
  }
}

/** Live (not zombie) processes belonging to a job run, excluding `exclude`. */
export function processesOfRun(rootPid: number | null, marker: string | null, exclude: readonly number[] = []): ProcInfo[] {
  const all = listProcesses().filter((p) => p.state !== 'Z' && p.state !== 'X' && !exclude.includes(p.pid));
  const children = new Map<number, ProcInfo[]>();
  for (const p of all) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const found = new Map<number, ProcInfo>();
  const addWithDescendants = (p: ProcInfo) => {
    if (found.has(p.pid)) return;
    found.set(p.pid, p);
    for (const c of children.get(p.pid) ?? []) addWithDescendants(c);
  };
  for (const p of all) {
    const inTree = rootPid !== null && (p.pid === rootPid || p.pgrp === rootPid || p.ppid === rootPid);
    if (inTree || (marker !== null && hasEnv(p.pid, RUN_MARKER_ENV, marker))) addWithDescendants(p);
  }
  return [...found.values()];
}

function signalQuietly(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // ESRCH (gone already) or EPERM (not ours): nothing to do.
  }
}

/**
 * Sends `signal` to the whole tree of a job run: the root's process group, every process found by
 * processesOfRun, and each of their groups (ffmpeg leads its own). Returns how many were signalled.
 */
export function signalRun(rootPid: number | null, marker: string | null, signal: NodeJS.Signals, exclude: readonly number[] = []): number {
  const targets = processesOfRun(rootPid, marker, exclude);
  if (rootPid !== null && !exclude.includes(rootPid)) signalQuietly(-rootPid, signal);
  for (const p of targets) {
    if (p.pgrp === p.pid) signalQuietly(-p.pid, signal);
    signalQuietly(p.pid, signal);
  }
  if (!HAS_PROC && rootPid !== null) signalQuietly(rootPid, signal);
  return targets.length;
}
