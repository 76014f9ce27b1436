// Where a process tree's time goes: each descendant's lifetime and CPU time, by polling /proc, plus the
// CPU time of waited-for children (cutime + cstime of this process), which counts what polling misses.
import { readFileSync, readdirSync } from 'node:fs';

/** /proc times are in clock ticks; Linux reports 100 per second to user space. */
const TICK_MS = 10;

/** CPU ms of every child this process has waited for (and of theirs), so far. */
export function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so cutime (16) and cstime (17) are at 13 and 14 here.
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

export interface ProcessSpan {
  pid: number;
  name: string;
  /** What the process was asked to do, shortened (e.g. the ffmpeg output or ffprobe's -show_entries). */
  what: string;
  startMs: number;
  endMs: number;
  cpuMs: number;
}

function statOf(pid: string): { ppid: number; cpuMs: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS };
  } catch {
    return null;
  }
}

function describe(pid: number): { name: string; what: string } {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const name = (args[0] ?? '?').split('/').pop() as string;
    const pick = (flag: string) => {
      const i = args.indexOf(flag);
      return i >= 0 ? `${flag} ${args[i + 1]}` : '';
    };
    const last = (args.at(-1) ?? '').split('/').pop() as string;
    const what = name === 'ffprobe' ? [pick('-show_entries'), pick('-read_intervals')].filter(Boolean).join(' ') : [pick('-filter_complex') ? 'filter' : '', pick('-c:a'), pick('-c:v'), last].filter(Boolean).join(' ');
    return { name, what: what.slice(0, 120) };
  } catch {
    return { name: '?', what: '' };
  }
}

/** Polls `root` and its descendants every `intervalMs` until stopped; times are from the start of watching. */
export function watchProcesses(root: number, intervalMs = 10): { stop: () => ProcessSpan[] } {
  const t0 = performance.now();
  const spans = new Map<number, ProcessSpan>();
  const poll = (): void => {
    const now = performance.now() - t0;
    const parents = new Map<number, number>();
    const cpu = new Map<number, number>();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const s = statOf(name);
      if (s) {
        parents.set(Number(name), s.ppid);
        cpu.set(Number(name), s.cpuMs);
      }
    }
    for (const [pid, ppid] of parents) {
      let up = pid === root ? root : ppid;
      while (up > 1 && up !== root) up = parents.get(up) ?? 0;
      if (up !== root) continue;
      let span = spans.get(pid);
      if (!span) {
        span = { pid, ...describe(pid), startMs: now, endMs: now, cpuMs: 0 };
        spans.set(pid, span);
      }
      // A child is seen first as a fork of node, before it becomes ffmpeg.
      if (pid !== root && span.name === 'node') Object.assign(span, describe(pid));
      span.endMs = now;
      span.cpuMs = cpu.get(pid) ?? span.cpuMs;
    }
  };
  const timer = setInterval(poll, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return [...spans.values()].sort((a, b) => a.startMs - b.startMs);
    },
  };
}
