// `npm run bench:api`: the HTTP API under load on loopback, while 2 real sync jobs render.
//   1. status reads (GET /api/jobs/:id) from 500 concurrent connections (autocannon, closed loop: saturation), 10 s;
//   2. 500 concurrent SSE streams (time to first event, delivery lag of live events) with 100 status readers beside;
//   3. upload throughput (POST /api/uploads, multipart, streamed + fsynced + probed) versus a plain file copy;
//   4. open loop, what users see: 500 clients, each with its own token and job, poll GET /api/jobs/:id every 2 s
//      on a fixed schedule (latency from the scheduled send time), 60 s; goal p99 <= 50 ms (issue #11).
// The server is `beatsync serve` in its own process (as in production, logging to a file) so the load generator
// does not share its event loop. Prints a Markdown section and writes it as "## HTTP API" into BENCHMARKS.md.
//   --open-seconds N (60)  --closed-seconds N (10)  --print-only (do not write BENCHMARKS.md)
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createReadStream, createWriteStream, openAsBlob } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { SqliteJobStore } from '../src/jobs/sqlite-store.ts';
import { inputArgs, runFfmpeg } from '../src/media/index.ts';
import { SYNC_JOB_TYPE } from '../src/server/routes/job-view.ts';
import { openLoopPolls } from './lib/open-loop.ts';
import type { OpenLoopResult, Poller } from './lib/open-loop.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MUSIC = join(ROOT, '..', 'shared', 'music');
const CLIENTS = 500;
const POLL_MS = 2000;
const { values: args } = parseArgs({
  options: {
    'open-seconds': { type: 'string', default: '60' },
    'closed-seconds': { type: 'string', default: '10' },
    'print-only': { type: 'boolean', default: false },
  },
});
const OPEN_SECONDS = Number(args['open-seconds']);
const PHASE_SECONDS = Number(args['closed-seconds']);
if (!(OPEN_SECONDS > 0) || !(PHASE_SECONDS > 0)) throw new Error('--open-seconds and --closed-seconds take a number of seconds > 0');

// ---- server child ----

interface Server {
  url: string;
  stop(): Promise<void>;
}

/** `beatsync serve` as deployed (default log level, one line per request), its log in a file; rate limits raised. */
async function startServer(dataDir: string, logFile: string): Promise<Server> {
  const log = await open(logFile, 'w');
  const child = spawn(process.execPath, [
    join(ROOT, 'bin', 'beatsync.js'), 'serve', '--port', '0', '--data-dir', dataDir, '--concurrency', '2',
    '--rate-limit-ip', '100000000', '--rate-limit-token', '100000000', '--rate-limit-sessions', '100000000',
    '--quota-jobs', '10', '--shutdown-grace', '1',
  ], { stdio: ['ignore', log.fd, log.fd] });
  let exited = false;
  child.once('exit', () => (exited = true));
  let url: string | null = null;
  while (!url) {
    if (exited) throw new Error(`server exited early; its log: ${logFile}\n${await readFile(logFile, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 100));
    url = /BeatSync listening on (http:\/\/\S+)/.exec(await readFile(logFile, 'utf8'))?.[1] ?? null;
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        const closed = () => void log.close().then(() => resolve());
        if (exited) return closed();
        child.once('exit', closed);
        child.kill('SIGTERM');
      }),
  };
}

// ---- load generator ----

async function makeMedia(dir: string): Promise<{ dance: string; bgm: string; big: string }> {
  const song = join(MUSIC, 'nexuiz-brokenlight.ogg');
  const bgm = join(dir, 'bgm.m4a');
  await runFfmpeg(['-y', ...inputArgs(song, { startSeconds: 10, durationSeconds: 90 }), '-c:a', 'aac', '-b:a', '128k', bgm]);
  const dance = join(dir, 'dance.mp4');
  await runFfmpeg([
    '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30:duration=60',
    ...inputArgs(song, { startSeconds: 25, durationSeconds: 60 }),
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '60', '-c:a', 'aac', '-b:a', '96k', '-t', '60', dance,
  ]);
  // A big, valid upload: 10 minutes of 48 kHz stereo PCM (~110 MiB).
  const big = join(dir, 'big.wav');
  await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'anoisesrc=color=pink:seed=3:sample_rate=48000:duration=600', '-ac', '2', '-c:a', 'pcm_s16le', big]);
  return { dance, bgm, big };
}

async function json<T>(res: Response): Promise<T> {
  const body = (await res.json()) as T;
  if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(body)}`);
  return body;
}

async function uploadFile(url: string, token: string, path: string): Promise<{ fileId: string; ms: number }> {
  const form = new FormData();
  form.append('file', await openAsBlob(path), path.split('/').pop());
  const t0 = performance.now();
  const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } });
  const body = await json<{ fileId: string }>(res);
  return { fileId: body.fileId, ms: performance.now() - t0 };
}

/** Keeps two sync jobs running until stopped; each new job gets another nudge so no result is reused. */
function keepTwoJobsRendering(url: string, token: string, dance: string, bgm: string) {
  let nudge = 1;
  let stopped = false;
  const finished: { id: string; seconds: number; state: string }[] = [];
  const running = new Set<string>();
  const ids: string[] = [];
  async function one(): Promise<void> {
    while (!stopped) {
      const t0 = performance.now();
      const res = await fetch(`${url}/api/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ danceFileId: dance, bgmFileId: bgm, options: { nudgeMs: nudge++, variants: ['trimmed', 'full'] } }),
      });
      const { jobId } = await json<{ jobId: string }>(res);
      running.add(jobId);
      ids.push(jobId);
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        const job = await json<{ status: string }>(await fetch(`${url}/api/jobs/${jobId}`, { headers: { authorization: `Bearer ${token}` } }));
        if (['succeeded', 'failed', 'cancelled'].includes(job.status)) {
          finished.push({ id: jobId, seconds: (performance.now() - t0) / 1000, state: job.status });
          running.delete(jobId);
          break;
        }
      }
    }
  }
  const loops = [one(), one()];
  return {
    current: () => [...running],
    latest: () => ids.at(-1)!,
    finished,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface SseStats {
  opened: number;
  errors: number;
  firstEvent: number[];
  lag: number[];
  events: number;
}

/** `CLIENTS` SSE streams on the running jobs, held for the phase; first-event time and live delivery lag. */
async function sseLoad(url: string, token: string, jobIds: () => string[], seconds: number): Promise<SseStats> {
  const stats: SseStats = { opened: 0, errors: 0, firstEvent: [], lag: [], events: 0 };
  const until = Date.now() + seconds * 1000;
  const controller = new AbortController();
  const client = async (i: number) => {
    while (Date.now() < until) {
      const ids = jobIds();
      const id = ids[i % Math.max(1, ids.length)];
      if (!id) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const t0 = performance.now();
      const connectedAt = Date.now();
      let first = true;
      try {
        const res = await fetch(`${url}/api/jobs/${id}/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
        if (res.status !== 200 || !res.body) {
          if (res.status !== 204) stats.errors++;
          await res.arrayBuffer().catch(() => undefined);
          continue;
        }
        stats.opened++;
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const chunk of res.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split('\n').find((l) => l.startsWith('data: '));
            if (!data) continue;
            stats.events++;
            const event = JSON.parse(data.slice(6)) as { at: string };
            if (first) {
              stats.firstEvent.push(performance.now() - t0);
              first = false;
            } else {
              // Replayed history is old by design; only events made while connected measure delivery.
              const at = Date.parse(event.at);
              if (at >= connectedAt) stats.lag.push(Date.now() - at);
            }
          }
        }
      } catch (err) {
        if ((err as Error).name !== 'AbortError') stats.errors++;
      }
    }
  };
  const timer = setTimeout(() => controller.abort(), seconds * 1000 + 2000);
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  clearTimeout(timer);
  stats.firstEvent.sort((a, b) => a - b);
  stats.lag.sort((a, b) => a - b);
  return stats;
}

async function plainCopy(from: string, dir: string): Promise<{ copyFileMs: number; streamMs: number }> {
  const a = join(dir, 'copy-a');
  let t0 = performance.now();
  await copyFile(from, a);
  const fa = await open(a, 'r+');
  await fa.sync();
  await fa.close();
  const copyFileMs = performance.now() - t0;
  const b = join(dir, 'copy-b');
  t0 = performance.now();
  await pipeline(createReadStream(from), createWriteStream(b));
  const fb = await open(b, 'r+');
  await fb.sync();
  await fb.close();
  const streamMs = performance.now() - t0;
  await rm(a, { force: true });
  await rm(b, { force: true });
  return { copyFileMs, streamMs };
}

/**
 * `count` clients as the page makes them: each its own session (POST /api/session) and its own sync job. The
 * jobs go straight into the job database (the real SQLite store, while the server runs), because 2 uploads
 * per client through HTTP (probes included) would take minutes here; they use the bench's two uploads, each
 * with its own nudge, so every one is real, distinct work that the server's 2 workers render in turn.
 */
async function makeClients(url: string, dataDir: string, danceFileId: string, bgmFileId: string, count: number): Promise<Poller[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 25) {
    const batch = await Promise.all(Array.from({ length: Math.min(25, count - i) }, async () =>
      (await json<{ token: string }>(await fetch(`${url}/api/session`, { method: 'POST' }))).token));
    tokens.push(...batch);
  }
  const store = SqliteJobStore.open(join(dataDir, 'jobs.db'));
  try {
    const pollers: Poller[] = [];
    for (const [i, token] of tokens.entries()) {
      const { job } = await store.submit({
        type: SYNC_JOB_TYPE,
        // A token is bs1.<session id>.<mac>; the session id owns what the token makes.
        owner: token.split('.')[1],
        input: { danceFileId, bgmFileId, options: { nudgeMs: 1000 + i, variants: ['trimmed', 'full'] } },
        maxAttempts: 3,
      });
      pollers.push({ path: `/api/jobs/${job.id}`, token });
    }
    return pollers;
  } finally {
    await store.close();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'beatsync-bench-api-'));
  const loadAtStart = loadavg()[0];
  let server: Server | null = null;
  try {
    process.stdout.write('making media…\n');
    const media = await makeMedia(work);
    const dataDir = join(work, 'data');
    server = await startServer(dataDir, join(work, 'server.log'));
    const { url } = server;
    const { token } = await json<{ token: string }>(await fetch(`${url}/api/session`, { method: 'POST' }));

    // 3 first (idle machine): uploads versus a plain copy on the same disk.
    const bigSize = (await stat(media.big)).size;
    const uploadMs: number[] = [];
    const copies: { copyFileMs: number; streamMs: number }[] = [];
    for (let i = 0; i < 3; i++) {
      uploadMs.push((await uploadFile(url, token, media.big)).ms);
      copies.push(await plainCopy(media.big, work));
    }
    const mib = bigSize / 2 ** 20;

    const dance = (await uploadFile(url, token, media.dance)).fileId;
    const bgm = (await uploadFile(url, token, media.bgm)).fileId;
    const jobs = keepTwoJobsRendering(url, token, dance, bgm);
    while (jobs.current().length < 2) await new Promise((r) => setTimeout(r, 100));

    process.stdout.write(`status reads: ${CLIENTS} connections, ${PHASE_SECONDS} s…\n`);
    const reads = await autocannon({
      url: `${url}/api/jobs/${jobs.latest()}`,
      connections: CLIENTS,
      duration: PHASE_SECONDS,
      headers: { authorization: `Bearer ${token}` },
    });

    process.stdout.write(`SSE: ${CLIENTS} streams + 100 status readers, ${PHASE_SECONDS} s…\n`);
    const [sse, readsBeside] = await Promise.all([
      sseLoad(url, token, () => jobs.current(), PHASE_SECONDS),
      autocannon({ url: `${url}/api/jobs/${jobs.latest()}`, connections: 100, duration: PHASE_SECONDS, headers: { authorization: `Bearer ${token}` } }),
    ]);
    await jobs.stop();

    // 4: the open loop, on 500 clients' own jobs (2 rendering at a time, the rest queued behind them).
    const pollers = await makeClients(url, dataDir, dance, bgm, CLIENTS);
    process.stdout.write(`open loop: ${CLIENTS} clients polling every ${POLL_MS / 1000} s, ${OPEN_SECONDS} s…\n`);
    const polls = await openLoopPolls(url, pollers, { intervalMs: POLL_MS, seconds: OPEN_SECONDS, timeoutMs: 10_000 });

    const cpu = cpus();
    const machine = `${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.version}; ` +
      `server in its own process, load generator in another, both on the same cores (loopback); 1-min load average at start ${loadAtStart.toFixed(1)} (other work was running)`;
    const copyFileMs = median(copies.map((c) => c.copyFileMs));
    const streamMs = median(copies.map((c) => c.streamMs));
    const up = median(uploadMs);
    const done = jobs.finished.filter((j) => j.state === 'succeeded');
    const section = [
      '## HTTP API',
      '',
      `\`npm run bench:api\` (\`bench/api.ts\`). Machine: ${machine}. Rate limits raised for the run; SSE heartbeat 15 s.`,
      `While measuring, 2 real \`beatsync.sync\` jobs render all the time (60 s 640×360 dance video, 90 s song, 2 variants; ` +
        `${done.length} jobs finished during the run, ${f1(median(done.map((j) => j.seconds)))} s each (median)).`,
      '',
      '| What | p50 | p99 | Other |',
      '|---|---|---|---|',
      `| GET /api/jobs/:id, ${CLIENTS} connections, ${PHASE_SECONDS} s (closed loop: saturation) | ${reads.latency.p50} ms | ${reads.latency.p99} ms | ${Math.round(reads.requests.average)} req/s, ${reads.requests.total} requests, ${reads.errors} errors, ${reads.timeouts} time-outs, ${reads.non2xx} non-2xx |`,
      `| SSE: ${CLIENTS} concurrent streams on the rendering jobs, time to first event | ${f1(percentile(sse.firstEvent, 50))} ms | ${f1(percentile(sse.firstEvent, 99))} ms | ${sse.opened} streams opened, ${sse.events} events received, ${sse.errors} errors |`,
      `| SSE: live event delivery lag (event written → client) | ${f1(percentile(sse.lag, 50))} ms | ${f1(percentile(sse.lag, 99))} ms | n = ${sse.lag.length} events made while connected; the store is polled every 100 ms |`,
      `| GET /api/jobs/:id, 100 connections beside the ${CLIENTS} SSE streams | ${readsBeside.latency.p50} ms | ${readsBeside.latency.p99} ms | ${Math.round(readsBeside.requests.average)} req/s, ${readsBeside.errors} errors, ${readsBeside.non2xx} non-2xx |`,
      `| POST /api/uploads, ${f1(mib)} MiB WAV (multipart, streamed, sha256, fsync, probe), median of 3 | ${f1(up)} ms | | ${f1(mib / (up / 1000))} MiB/s |`,
      `| Plain copy of the same file on the same disk (fs.copyFile + fsync / stream + fsync) | ${f1(copyFileMs)} / ${f1(streamMs)} ms | | ${f1(mib / (copyFileMs / 1000))} / ${f1(mib / (streamMs / 1000))} MiB/s |`,
      '',
      ...openLoopSection(polls),
    ].join('\n');
    process.stdout.write(`\n${section}\n`);
    if (!args['print-only']) await writeSection(section);
  } finally {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

function openLoopSection(polls: OpenLoopResult): string[] {
  const l = polls.latencies;
  const p = (q: number): string => f1(percentile(l, q));
  const states = Object.entries(polls.states).map(([state, n]) => `${state} ${n}`).join(', ');
  return [
    `### Open loop: ${CLIENTS} pollers (what users see)`,
    '',
    `${CLIENTS} clients, each with its own session token and its own sync job, send \`GET /api/jobs/:id\` every ${POLL_MS / 1000} s on a ` +
      `fixed schedule (random start phase), whether or not the previous answer came: ${CLIENTS / (POLL_MS / 1000)} req/s offered, ` +
      `${polls.seconds} s, one keep-alive agent per client. Latency counts from the scheduled send time, so a queue in the ` +
      'server (or in the load generator) shows instead of slowing the load down. Meanwhile the 2 workers render these ' +
      'clients\' jobs (the same media as above), the rest wait in the queue. Goal (issue #11): p99 ≤ 50 ms.',
    '',
    '| p50 | p90 | p99 | max | errors (non-2xx, failed, time-out 10 s) | achieved rate | answers by job state | load generator late (p99) |',
    '|---|---|---|---|---|---|---|---|',
    `| ${p(50)} ms | ${p(90)} ms | ${p(99)} ms | ${f1(l.at(-1) ?? NaN)} ms | ${polls.errors} of ${polls.sent} | ` +
      `${f1(polls.answered / polls.seconds)} req/s | ${states} | ${f1(percentile(polls.lateness, 99))} ms |`,
    '',
  ];
}

/** Replaces (or appends) the "## HTTP API" section of BENCHMARKS.md, leaving the other sections alone. */
async function writeSection(section: string): Promise<void> {
  const file = join(ROOT, 'BENCHMARKS.md');
  let text = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  const start = text.indexOf('\n## HTTP API');
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + (next >= 0 ? text.slice(next) : '\n');
  }
  text = `${text.trimEnd()}\n\n${section}`;
  await writeFile(file, text);
}

await main();
