// Peak resident memory of a whole process tree (a process and all its descendants, e.g. node and its ffmpeg
// children), by polling /proc. The sum of VmRSS counts shared library pages once per process: an upper bound.
import { readFileSync, readdirSync } from 'node:fs';

function children(): Map<number, number[]> {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command name, which may itself contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = byParent.get(ppid) ?? [];
      list.push(Number(name));
      byParent.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  return byParent;
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Current summed VmRSS (kB) of `pid` and its descendants, and each process's own (by command name). */
export function treeRss(pid: number): { totalKb: number; processes: { name: string; kb: number }[] } {
  const byParent = children();
  const processes: { name: string; kb: number }[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    processes.push({ name: commandName(p), kb: rssKb(p) });
    stack.push(...(byParent.get(p) ?? []));
  }
  return { totalKb: processes.reduce((s, x) => s + x.kb, 0), processes };
}

export interface TreePeak {
  /** Peak of the summed tree (MB). */
  peakMb: number;
  /** Largest single process of each command name seen (MB), e.g. { node: 120, ffmpeg: 90 }. */
  peakByNameMb: Record<string, number>;
}

/** Polls the tree every `intervalMs` until stopped. */
export function watchTree(pid: number, intervalMs = 25): { stop: () => TreePeak } {
  let peakKb = 0;
  const byName: Record<string, number> = {};
  const poll = (): void => {
    const now = treeRss(pid);
    peakKb = Math.max(peakKb, now.totalKb);
    for (const p of now.processes) byName[p.name] = Math.max(byName[p.name] ?? 0, p.kb / 1024);
  };
  poll();
  const timer = setInterval(poll, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return { peakMb: peakKb / 1024, peakByNameMb: Object.fromEntries(Object.entries(byName).map(([k, v]) => [k, Math.round(v)])) };
    },
  };
}
