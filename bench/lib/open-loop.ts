// Open-loop polling for `bench:api`: each simulated client sends GET on its own fixed schedule whether or not its
// earlier requests have answered, and every latency counts from the scheduled send time. A closed loop (send, wait,
// send) slows down with the server and so hides its queue (coordinated omission); this does not.
import { Agent, request } from 'node:http';

export interface Poller {
  /** e.g. /api/jobs/<id> */
  path: string;
  token: string;
}

export interface OpenLoopOptions {
  intervalMs: number;
  seconds: number;
  /** A request unanswered this long counts as an error (and its latency is this long). */
  timeoutMs: number;
}

export interface OpenLoopResult {
  /** Scheduled send → last byte of the answer, ms, sorted; answered requests of any status, and time-outs. */
  latencies: number[];
  /** Scheduled send → actually sent, ms, sorted: how late the load generator itself was. */
  lateness: number[];
  sent: number;
  answered: number;
  /** Non-2xx answers, network errors and time-outs. */
  errors: number;
  /** How many answers saw the job in each state (queued, running, succeeded, …). */
  states: Record<string, number>;
  seconds: number;
}

/** A fixed pseudo-random start phase per client (clients do not arrive in lockstep), the same on every run. */
function phases(count: number, intervalMs: number): number[] {
  let seed = 0x2545f491;
  return Array.from({ length: count }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed / 2 ** 32) * intervalMs;
  });
}

export async function openLoopPolls(baseUrl: string, pollers: Poller[], options: OpenLoopOptions): Promise<OpenLoopResult> {
  const { hostname, port } = new URL(baseUrl);
  const result: OpenLoopResult = { latencies: [], lateness: [], sent: 0, answered: 0, errors: 0, states: {}, seconds: options.seconds };
  // One agent per client with keep-alive, as each browser keeps its own connections.
  const agents = pollers.map(() => new Agent({ keepAlive: true, maxSockets: 6 }));
  const start = performance.now() + 100;
  const end = start + options.seconds * 1000;
  const inFlight = new Set<Promise<void>>();

  const send = (client: number, scheduled: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const { path, token } = pollers[client];
      result.sent++;
      result.lateness.push(performance.now() - scheduled);
      let done = false;
      const finish = (ok: boolean, body?: string): void => {
        if (done) return;
        done = true;
        result.latencies.push(performance.now() - scheduled);
        if (!ok) result.errors++;
        if (body !== undefined) {
          result.answered++;
          const state = ok ? ((JSON.parse(body) as { status?: string }).status ?? 'unknown') : 'error';
          result.states[state] = (result.states[state] ?? 0) + 1;
        }
        resolve();
      };
      const req = request({ host: hostname, port, path, agent: agents[client], headers: { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => finish(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300, body));
        res.on('error', () => finish(false));
      });
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error('time-out')));
      req.on('error', () => finish(false));
      req.end();
    });

  await new Promise<void>((allScheduled) => {
    let running = pollers.length;
    phases(pollers.length, options.intervalMs).forEach((phase, client) => {
      let scheduled = start + phase;
      const tick = (): void => {
        const p = send(client, scheduled);
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
        // The next send is fixed by the schedule, never by when this one answers.
        scheduled += options.intervalMs;
        if (scheduled < end) setTimeout(tick, Math.max(0, scheduled - performance.now()));
        else if (--running === 0) allScheduled();
      };
      setTimeout(tick, Math.max(0, scheduled - performance.now()));
    });
  });
  await Promise.all([...inFlight]);
  for (const agent of agents) agent.destroy();
  result.latencies.sort((a, b) => a - b);
  result.lateness.sort((a, b) => a - b);
  return result;
}
