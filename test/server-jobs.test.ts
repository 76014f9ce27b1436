// The job and download routes against a real server on loopback with real workers: upload → job → SSE →
// download (whole and by ranges) → check the output's streams and its sync against the BGM; idempotency,
// ownership, cancel, delete, retry, history, SSE resume, and a server restart in the middle of a job.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobStore } from '../src/jobs/types.ts';
import { probeMedia } from '../src/media/index.ts';
import { makeApiSyncPair, measureSync } from './helpers/api-media.ts';
import type { ApiSyncPair } from './helpers/api-media.ts';
import { auth, getJson, newToken, openSse, removeDataDir, sendJson, startApi, upload, waitFor } from './helpers/api.ts';
import type { RunningApi, SseMessage } from './helpers/api.ts';

interface Accepted { jobId: string; status: string; estimatedSeconds: number | null; links: { self: string; events: string; outputs: Record<string, string>; report: string } }
interface VariantView { variant: string; sizeBytes: number; durationSeconds: number; flagged: boolean; url: string; downloadUrl: string }
interface JobView {
  jobId: string;
  status: string;
  progress: { percent: number; stage: string; message: string };
  queuePosition: number | null;
  attempts: number;
  createdAt: string;
  finishedAt: string | null;
  expiresAt: string | null;
  result: null | { variants: VariantView[]; reportUrl: string; report: { alignment: { offsetSeconds: number; speed: number }; nudgeMs: number; variants: { variant: string; danceStart: number }[]; envelopes?: { frameSeconds: number; dance: number[]; bgm: { startSeconds: number; values: number[] } } } };
  error: null | { code: string; message: string; retryable: boolean };
}
interface ErrorAnswer { error: { code: string; message: string } }

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/** Reads an SSE stream to its end; `stopAfter` drops the connection after that many messages. */
async function collect(stream: Awaited<ReturnType<typeof openSse>>, stopAfter = Infinity): Promise<SseMessage[]> {
  const got: SseMessage[] = [];
  for await (const m of stream.messages) {
    got.push(m);
    if (got.length >= stopAfter) {
      stream.abort();
      break;
    }
  }
  return got;
}

const seqs = (messages: SseMessage[]): number[] => messages.map((m) => Number(m.id));
const statusOf = (m: SseMessage): string => (JSON.parse(m.data) as { status: string }).status;

function assertEndsTerminal(messages: SseMessage[], expected: string): void {
  const last = messages.at(-1);
  assert.ok(last, 'the stream sent events');
  assert.equal(last.event, 'state');
  assert.equal(statusOf(last), expected);
  // Earlier terminal states may only appear when a retry followed them.
  for (const m of messages.slice(0, -1)) if (m.event === 'state' && TERMINAL.includes(statusOf(m))) assert.ok(messages.some((n) => statusOf(n) === 'queued' && Number(n.id) > Number(m.id)));
}

/** Counts live subscriptions the routes hold on the store, to see that disconnects clean up. */
function countSubscriptions(store: JobStore): { active: () => number } {
  let active = 0;
  const original = store.subscribe.bind(store);
  store.subscribe = (id, listener) => {
    active++;
    const unsubscribe = original(id, listener);
    let done = false;
    return () => {
      if (!done) {
        done = true;
        active--;
      }
      unsubscribe();
    };
  };
  return { active: () => active };
}

describe('job routes on a real server', () => {
  let api: RunningApi;
  let pair: ApiSyncPair;
  let token: string;
  let other: string;
  let danceId: string;
  let bgmId: string;
  let firstJob: Accepted;
  let subscriptions: { active: () => number };
  const scratch: string[] = [];

  before(async () => {
    pair = await makeApiSyncPair();
    api = await startApi({ sseHeartbeatMs: 100, argv: ['--public-metrics'] });
    subscriptions = countSubscriptions(api.system.store);
    token = await newToken(api.url);
    other = await newToken(api.url);
    danceId = await upload(api, token, pair.dance, 'dance', '舞蹈课 1.mp4');
    bgmId = await upload(api, token, pair.bgm, 'bgm');
  });

  after(async () => {
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  });

  const submit = (body: Record<string, unknown>, key?: string, who = token) =>
    sendJson<Accepted & ErrorAnswer>('POST', `${api.url}/api/jobs`, body, who, key ? { 'idempotency-key': key } : {});

  test('full flow: submit, follow over SSE to the end, download both variants, check streams and sync', async (t) => {
    const res = await submit({ danceFileId: danceId, bgmFileId: bgmId }, 'first-job');
    assert.equal(res.status, 202);
    assert.equal(res.body.status, 'queued');
    assert.equal(res.headers.get('location'), `/api/jobs/${res.body.jobId}`);
    assert.equal(res.body.links.events, `/api/jobs/${res.body.jobId}/events`);
    assert.equal(typeof res.body.estimatedSeconds, 'number');
    firstJob = res.body;

    const stream = await openSse(`${api.url}${res.body.links.events}`, token);
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = await collect(stream);
    const ids = seqs(events);
    assert.deepEqual(ids, ids.map((_, i) => i + 1), 'every event once, in order, numbered from 1');
    for (const m of events) assert.ok(m.event === 'state' || m.event === 'progress', m.event);
    assert.ok(events.some((m) => m.event === 'progress'), 'progress was reported');
    assertEndsTerminal(events, 'succeeded');
    const terminal = JSON.parse(events.at(-1)!.data) as { result: { variants: VariantView[] } };
    assert.ok(terminal.result.variants.length >= 2, 'the terminal event carries the result');
    assert.ok(stream.comments.includes('keep-alive'), 'heartbeat comments were sent');
    await waitFor(async () => (subscriptions.active() === 0 ? true : undefined), 10_000, 20);

    const { status, body: job } = await getJson<JobView>(`${api.url}/api/jobs/${res.body.jobId}`, token);
    assert.equal(status, 200);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.progress.percent, 100);
    assert.equal(job.queuePosition, null);
    assert.equal(job.attempts, 1);
    assert.equal(job.error, null);
    assert.ok(job.result);
    const expires = Date.parse(job.expiresAt!) - Date.parse(job.finishedAt!);
    assert.equal(expires, api.config.retentionSeconds * 1000, 'outputs expire after the retention period');
    const { alignment, nudgeMs, envelopes } = job.result.report;
    assert.ok(Math.abs(alignment.offsetSeconds - pair.offsetSeconds) < 0.005, `found offset ${alignment.offsetSeconds}`);
    // The picture's loudness curves come with the result: the recording whole, the song over the span it covers.
    assert.ok(envelopes, 'report.envelopes');
    const danceSeconds = 6; // makeApiSyncPair's default recording, all inside the song
    const frames = (seconds: number) => seconds / envelopes.frameSeconds;
    assert.ok(Math.abs(envelopes.dance.length - frames(danceSeconds)) <= 2, `${envelopes.dance.length} dance frames`);
    assert.ok(Math.abs(envelopes.bgm.values.length - frames(danceSeconds + 0.5)) <= 2, `${envelopes.bgm.values.length} song frames`);
    assert.ok(Math.abs(envelopes.bgm.startSeconds - Math.max(0, alignment.offsetSeconds - 0.25)) < 0.01);
    assert.ok(envelopes.dance.some((db) => db > -40) && envelopes.bgm.values.every((db) => db >= -100 && db <= 0));

    const dir = await mkdtemp(join(tmpdir(), 'beatsync-dl-'));
    scratch.push(dir);
    const input = await probeMedia(pair.dance);
    for (const name of ['trimmed', 'full']) {
      const variant: VariantView | undefined = job.result.variants.find((v) => v.variant === name);
      assert.ok(variant, `variant ${name}`);
      const dl: Response = await fetch(`${api.url}${variant.downloadUrl}`, { headers: auth(token) });
      assert.equal(dl.status, 200);
      assert.equal(dl.headers.get('content-type'), 'video/mp4');
      assert.equal(dl.headers.get('accept-ranges'), 'bytes');
      assert.equal(
        dl.headers.get('content-disposition'),
        `attachment; filename="___ 1-beatsync-${name}.mp4"; filename*=UTF-8''${encodeURIComponent(`舞蹈课 1-beatsync-${name}.mp4`)}`,
      );
      const bytes = Buffer.from(await dl.arrayBuffer());
      assert.equal(bytes.length, variant.sizeBytes);
      const file = join(dir, `${name}.mp4`);
      await writeFile(file, bytes);

      const info = await probeMedia(file);
      assert.equal(info.video.length, 1);
      assert.equal(info.audio.length, 1);
      assert.equal(info.video[0].codec, input.video[0].codec, 'the picture is copied, not re-encoded');
      assert.equal(info.video[0].width, input.video[0].width);
      assert.equal(info.video[0].height, input.video[0].height);

      const danceStart = job.result.report.variants.find((v) => v.variant === name)!.danceStart;
      const sync = await measureSync(file, pair.bgm, {
        danceStart,
        bgmTimeAt: (d) => alignment.offsetSeconds + nudgeMs / 1000 + alignment.speed * d,
      });
      t.diagnostic(`${name}: sync error ${sync.errorMs.toFixed(3)} ms at output ${sync.atSeconds.toFixed(2)} s (peak ${sync.peak.toFixed(3)})`);
      assert.ok(sync.peak > 0.5, `the output's sound is the BGM (peak ${sync.peak.toFixed(2)})`);
      assert.ok(Math.abs(sync.errorMs) <= 2, `${name} is in sync with the BGM: ${sync.errorMs.toFixed(2)} ms`);
    }
  });

  test('downloads: Range, suffix range, 416, ETag/If-None-Match, If-Range, HEAD, inline, report', async () => {
    const url = `${api.url}${firstJob.links.outputs.trimmed}`;
    const whole = await fetch(url, { headers: auth(token) });
    assert.equal(whole.status, 200);
    assert.match(whole.headers.get('content-disposition') ?? '', /^inline; /);
    const etag = whole.headers.get('etag')!;
    assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
    const bytes = Buffer.from(await whole.arrayBuffer());
    const size = bytes.length;

    const part = await fetch(url, { headers: { ...auth(token), range: 'bytes=100-1099' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 100-1099/${size}`);
    assert.equal(part.headers.get('content-length'), '1000');
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(100, 1100));

    const tail = await fetch(url, { headers: { ...auth(token), range: 'bytes=-500' } });
    assert.equal(tail.status, 206);
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(size - 500));

    const open = await fetch(url, { headers: { ...auth(token), range: `bytes=${size - 10}-` } });
    assert.equal(open.status, 206);
    assert.deepEqual(Buffer.from(await open.arrayBuffer()), bytes.subarray(size - 10));

    const beyond = await fetch(url, { headers: { ...auth(token), range: `bytes=${size}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${size}`);
    await beyond.arrayBuffer();

    const cached = await fetch(url, { headers: { ...auth(token), 'if-none-match': etag } });
    assert.equal(cached.status, 304);

    const stale = await fetch(url, { headers: { ...auth(token), range: 'bytes=0-9', 'if-range': '"stale"' } });
    assert.equal(stale.status, 200, 'a stale If-Range gets the whole file');
    assert.equal(Buffer.from(await stale.arrayBuffer()).length, size);
    const fresh = await fetch(url, { headers: { ...auth(token), range: 'bytes=0-9', 'if-range': etag } });
    assert.equal(fresh.status, 206);
    await fresh.arrayBuffer();

    const head = await fetch(url, { method: 'HEAD', headers: auth(token) });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(size));
    assert.equal(head.headers.get('etag'), etag);
    assert.equal((await head.arrayBuffer()).byteLength, 0);

    const report = await fetch(`${api.url}${firstJob.links.report}?download=1`, { headers: auth(token) });
    assert.equal(report.status, 200);
    assert.match(report.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(report.headers.get('content-disposition') ?? '', /^attachment; .*-beatsync-report\.json/);
    const parsed = (await report.json()) as { alignment: { offsetSeconds: number } };
    assert.equal(typeof parsed.alignment.offsetSeconds, 'number');

    const unknown = await getJson<ErrorAnswer>(`${api.url}/api/jobs/${firstJob.jobId}/outputs/stereo`, token);
    assert.equal(unknown.status, 400);
  });

  test('Idempotency-Key: the same key gives the same job; reused for another request is a conflict', async () => {
    const again = await submit({ danceFileId: danceId, bgmFileId: bgmId }, 'first-job');
    assert.equal(again.status, 200);
    assert.equal(again.body.jobId, firstJob.jobId);
    assert.deepEqual(again.body.links, firstJob.links);

    const different = await submit({ danceFileId: danceId, bgmFileId: bgmId, options: { nudgeMs: 5 } }, 'first-job');
    assert.equal(different.status, 409);
    assert.equal(different.body.error.code, 'CONFLICT');

    // Only the compact size differs: another request too (1280 is the default, so naming it is the same one).
    const otherSize = await submit({ danceFileId: danceId, bgmFileId: bgmId, options: { compactLongSide: 1920 } }, 'first-job');
    assert.equal(otherSize.status, 409);
    assert.equal(otherSize.body.error.code, 'CONFLICT');
    const defaultSize = await submit({ danceFileId: danceId, bgmFileId: bgmId, options: { compactLongSide: 1280 } }, 'first-job');
    assert.equal(defaultSize.status, 200);
    assert.equal(defaultSize.body.jobId, firstJob.jobId);

    // Another token's key space is its own, and it cannot use this token's uploads.
    const theirs = await submit({ danceFileId: danceId, bgmFileId: bgmId }, 'first-job', other);
    assert.equal(theirs.status, 404);
    assert.equal(theirs.body.error.code, 'FILE_NOT_FOUND');
  });

  test('bad requests are 4xx with their code', async () => {
    const missing = await submit({ danceFileId: danceId });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 'BAD_REQUEST');
    const badOption = await submit({ danceFileId: danceId, bgmFileId: bgmId, options: { variants: ['stereo'] } });
    assert.equal(badOption.status, 400);
    const noFile = await submit({ danceFileId: 'A'.repeat(22), bgmFileId: bgmId });
    assert.equal(noFile.status, 404);
    assert.equal(noFile.body.error.code, 'FILE_NOT_FOUND');
    const swapped = await submit({ danceFileId: bgmId, bgmFileId: danceId });
    assert.equal(swapped.status, 422, 'an audio file as the dance');
    assert.equal(swapped.body.error.code, 'NO_VIDEO_TRACK');
    const zh = await sendJson<ErrorAnswer>('POST', `${api.url}/api/jobs`, { danceFileId: 'A'.repeat(22), bgmFileId: bgmId }, token, { 'accept-language': 'zh-CN,zh;q=0.9' });
    assert.equal(zh.body.error.message, '找不到该文件，请重新上传。');
  });

  test("ownership: another token gets 404 on the job, its events and outputs; no token gets 401", async () => {
    const id = firstJob.jobId;
    for (const path of [`/api/jobs/${id}`, `/api/jobs/${id}/events`, `/api/jobs/${id}/outputs/trimmed`, `/api/jobs/${id}/outputs/report`]) {
      const res = await fetch(`${api.url}${path}`, { headers: auth(other) });
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as ErrorAnswer).error.code, 'NOT_FOUND');
    }
    assert.equal((await sendJson('DELETE', `${api.url}/api/jobs/${id}`, undefined, other)).status, 404);
    assert.equal((await sendJson('POST', `${api.url}/api/jobs/${id}/retry`, undefined, other)).status, 404);
    const list = await getJson<{ jobs: JobView[] }>(`${api.url}/api/jobs`, other);
    assert.deepEqual(list.body.jobs, []);
    const anonymous = await getJson<ErrorAnswer>(`${api.url}/api/jobs/${id}`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, 'UNAUTHORIZED');
    const legacy = await getJson<ErrorAnswer>(`${api.url}/api/status/${id}`);
    assert.equal(legacy.status, 404, 'the compatibility routes cannot see token jobs');
  });

  test('cancel, then retry: the SSE stream resumed after the cancelled event follows the new run to success', async () => {
    const res = await submit({ danceFileId: danceId, bgmFileId: bgmId, options: { nudgeMs: 20 } });
    assert.equal(res.status, 202);
    const cancelled = await sendJson<JobView>('DELETE', `${api.url}/api/jobs/${res.body.jobId}`, undefined, token);
    assert.equal(cancelled.status, 200);
    assert.ok(['cancelled', 'running'].includes(cancelled.body.status), cancelled.body.status);

    const first = await collect(await openSse(`${api.url}/api/jobs/${res.body.jobId}/events`, token));
    assertEndsTerminal(first, 'cancelled');
    assert.equal((JSON.parse(first.at(-1)!.data) as { error: { code: string } }).error.code, 'CANCELLED');
    const view = (await getJson<JobView>(`${api.url}/api/jobs/${res.body.jobId}`, token)).body;
    assert.equal(view.status, 'cancelled');
    assert.equal(view.error?.code, 'CANCELLED');
    assert.equal(view.result, null);

    const cancelAgain = await sendJson<JobView>('POST', `${api.url}/api/jobs/${res.body.jobId}/cancel`, undefined, token);
    assert.equal(cancelAgain.status, 200, 'cancelling a cancelled job is a no-op');
    assert.equal(cancelAgain.body.status, 'cancelled');

    const retried = await sendJson<JobView>('POST', `${api.url}/api/jobs/${res.body.jobId}/retry`, undefined, token);
    assert.equal(retried.status, 202);
    // The answer is read once the retry is on disk; an idle worker may have claimed it by then.
    assert.ok(['queued', 'running'].includes(retried.body.status), retried.body.status);
    const lastId = first.at(-1)!.id!;
    const rest = await collect(await openSse(`${api.url}/api/jobs/${res.body.jobId}/events`, token, { 'last-event-id': lastId }));
    assert.ok(Number(rest[0].id) === Number(lastId) + 1, 'resumes right after the given id');
    assertEndsTerminal(rest, 'succeeded');

    const retryDone = await sendJson<ErrorAnswer>('POST', `${api.url}/api/jobs/${res.body.jobId}/retry`, undefined, token);
    assert.equal(retryDone.status, 409);
    assert.equal(retryDone.body.error.code, 'CONFLICT');
    // The cancel-only route never deletes: a job that finished just before the click keeps its result.
    const cancelDone = await sendJson<JobView>('POST', `${api.url}/api/jobs/${res.body.jobId}/cancel`, undefined, token);
    assert.equal(cancelDone.status, 200);
    assert.equal(cancelDone.body.status, 'succeeded');
  });

  test('SSE resume with Last-Event-ID: no duplicates, no gaps, ends with the terminal state; after the end: 204', async () => {
    const res = await submit({ danceFileId: danceId, bgmFileId: bgmId, options: { nudgeMs: 40 } });
    const url = `${api.url}/api/jobs/${res.body.jobId}/events`;
    const part1 = await collect(await openSse(url, token), 2);
    assert.equal(part1.length, 2);
    await waitFor(async () => (subscriptions.active() === 0 ? true : undefined), 10_000, 20);

    const part2 = await collect(await openSse(url, token, { 'last-event-id': part1[1].id! }));
    const all = [...seqs(part1), ...seqs(part2)];
    assert.deepEqual(all, all.map((_, i) => i + 1));
    assertEndsTerminal(part2, 'succeeded');

    const done = await fetch(`${url}?lastEventId=${all.at(-1)}`, { headers: auth(token) });
    assert.equal(done.status, 204, 'nothing after the terminal event: EventSource stops reconnecting');

    const replay = await collect(await openSse(`${url}?lastEventId=0`, token));
    assert.deepEqual(seqs(replay), all, 'a finished job replays everything and closes');
    const fromQuery = await collect(await openSse(`${url}?lastEventId=3`, token));
    assert.deepEqual(seqs(fromQuery), all.slice(3));
  });

  test('history: cursor pages, status filter, expiry; stats', async () => {
    const seen: JobView[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { jobs: JobView[]; nextCursor: string | null } } = await getJson(`${api.url}/api/jobs?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
      assert.equal(page.status, 200);
      assert.ok(page.body.jobs.length <= 1);
      seen.push(...page.body.jobs);
      cursor = page.body.nextCursor;
    } while (cursor);
    const ids = seen.map((j) => j.jobId);
    assert.equal(new Set(ids).size, ids.length, 'no job twice');
    assert.ok(ids.length >= 3);
    assert.ok(ids.includes(firstJob.jobId));
    assert.deepEqual([...seen].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)).map((j) => j.jobId), ids, 'newest first');
    for (const j of seen) if (j.finishedAt) assert.ok(j.expiresAt);

    const succeeded = await getJson<{ jobs: JobView[] }>(`${api.url}/api/jobs?status=succeeded`, token);
    assert.ok(succeeded.body.jobs.length >= 2);
    assert.ok(succeeded.body.jobs.every((j) => j.status === 'succeeded'));
    // The history list stays small: the picture's curves come only with the single job.
    assert.ok(succeeded.body.jobs.every((j) => j.result && j.result.report.alignment && !('envelopes' in j.result.report)));
    assert.equal((await getJson(`${api.url}/api/jobs?status=sleeping`, token)).status, 400);

    const stats = await getJson<{ successRate: number; meanDurationSeconds: number; queueDepth: number; byState: Record<string, number> }>(`${api.url}/api/stats`, token);
    assert.equal(stats.status, 200);
    assert.equal(stats.body.successRate, 1, 'cancelled jobs do not count as failures');
    assert.ok(stats.body.meanDurationSeconds > 0);
    assert.equal(stats.body.queueDepth, 0);
    assert.ok(stats.body.byState.succeeded >= 3);
  });

  /** Submits, follows the job to its end over SSE, and returns its final view. */
  async function runToEnd(body: Record<string, unknown>): Promise<JobView> {
    const res = await submit(body);
    assert.equal(res.status, 202);
    await collect(await openSse(`${api.url}/api/jobs/${res.body.jobId}/events`, token));
    return (await getJson<JobView>(`${api.url}/api/jobs/${res.body.jobId}`, token)).body;
  }

  const ownOutputs = async (jobId: string): Promise<string[]> => {
    const keys: string[] = [];
    for await (const o of api.system.files.list(`outputs/${jobId}/`)) keys.push(o.key);
    return keys;
  };

  const deleteJob = (id: string, who = token) => fetch(`${api.url}/api/jobs/${id}`, { method: 'DELETE', headers: auth(who) });

  test('delete: a finished job goes with its outputs (GET and downloads 404), its uploads stay; others cannot delete it', async () => {
    const job = await runToEnd({ danceFileId: danceId, bgmFileId: bgmId, options: { nudgeMs: 60 } });
    assert.equal(job.status, 'succeeded');
    assert.ok((await ownOutputs(job.jobId)).length >= 2, 'the job wrote its outputs');

    const theirs = await deleteJob(job.jobId, other);
    assert.equal(theirs.status, 404);
    assert.equal(((await theirs.json()) as ErrorAnswer).error.code, 'NOT_FOUND');
    assert.equal((await getJson(`${api.url}/api/jobs/${job.jobId}`, token)).status, 200, 'still there after the foreign attempt');

    const deleted = await deleteJob(job.jobId);
    assert.equal(deleted.status, 204);
    assert.equal((await deleted.arrayBuffer()).byteLength, 0);
    const gone = await getJson<ErrorAnswer>(`${api.url}/api/jobs/${job.jobId}`, token);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'NOT_FOUND');
    for (const path of [job.result!.variants[0].downloadUrl, `/api/jobs/${job.jobId}/outputs/report`, `/api/jobs/${job.jobId}/events`]) {
      assert.equal((await fetch(`${api.url}${path}`, { headers: auth(token) })).status, 404, path);
    }
    assert.deepEqual(await ownOutputs(job.jobId), [], 'the output files are gone from the store');
    const list = await getJson<{ jobs: JobView[] }>(`${api.url}/api/jobs`, token);
    assert.ok(!list.body.jobs.some((j) => j.jobId === job.jobId), 'gone from the history');
    assert.equal((await getJson(`${api.url}/api/uploads/${danceId}`, token)).status, 200, 'the uploads stay until their own retention');
    assert.equal((await deleteJob(job.jobId)).status, 404, 'a second delete finds nothing');
  });

  test("delete: jobs sharing a cached result own separate files; deleting one never breaks the other; a deleted result is never reused", async () => {
    const first = await runToEnd({ danceFileId: danceId, bgmFileId: bgmId, options: { nudgeMs: 70 } });
    const reused = await runToEnd({ danceFileId: danceId, bgmFileId: bgmId, options: { nudgeMs: 70 } });
    assert.equal(reused.status, 'succeeded');
    const firstFiles = await ownOutputs(first.jobId);
    assert.ok(firstFiles.length >= 2);
    assert.equal((await ownOutputs(reused.jobId)).length, firstFiles.length, 'the cache hit got its own copies');

    assert.equal((await deleteJob(first.jobId)).status, 204);
    const dlReused = await fetch(`${api.url}${reused.result!.variants[0].downloadUrl}`, { headers: auth(token) });
    assert.equal(dlReused.status, 200, "the reused job's download survives the first job's deletion");
    await dlReused.arrayBuffer();
    assert.equal((await deleteJob(reused.jobId)).status, 204);
    assert.deepEqual(await ownOutputs(reused.jobId), []);

    const again = await runToEnd({ danceFileId: danceId, bgmFileId: bgmId, options: { nudgeMs: 70 } });
    assert.equal(again.status, 'succeeded');
    assert.ok((await ownOutputs(again.jobId)).length >= 2, 'rendered anew into its own folder, not pointed at deleted files');
    const dl = await fetch(`${api.url}${again.result!.variants[0].downloadUrl}`, { headers: auth(token) });
    assert.equal(dl.status, 200);
    await dl.arrayBuffer();
  });

  test('delete on a live job cancels it (200) and keeps it; the next delete removes it', async () => {
    const res = await submit({ danceFileId: danceId, bgmFileId: bgmId, options: { nudgeMs: 80 } });
    const cancelled = await sendJson<JobView>('DELETE', `${api.url}/api/jobs/${res.body.jobId}`, undefined, token);
    assert.equal(cancelled.status, 200);
    assert.ok(['cancelled', 'running'].includes(cancelled.body.status), cancelled.body.status);
    await collect(await openSse(`${api.url}/api/jobs/${res.body.jobId}/events`, token));
    assert.equal((await getJson<JobView>(`${api.url}/api/jobs/${res.body.jobId}`, token)).body.status, 'cancelled');
    assert.equal((await deleteJob(res.body.jobId)).status, 204);
    assert.equal((await getJson(`${api.url}/api/jobs/${res.body.jobId}`, token)).status, 404);
  });
});

test('a server restarted in the middle of a job finishes it, and the SSE stream resumes with Last-Event-ID', async () => {
  const pair = await makeApiSyncPair();
  let api = await startApi();
  const dataDir = api.dataDir;
  try {
    const token = await newToken(api.url);
    const dance = await upload(api, token, pair.dance, 'dance');
    const bgm = await upload(api, token, pair.bgm, 'bgm');
    const res = await sendJson<Accepted>('POST', `${api.url}/api/jobs`, { danceFileId: dance, bgmFileId: bgm }, token);
    assert.equal(res.status, 202);
    const url = () => `${api.url}/api/jobs/${res.body.jobId}/events`;

    // Read until the job is running, then take the server down under it.
    const stream = await openSse(url(), token);
    const before: SseMessage[] = [];
    for await (const m of stream.messages) {
      before.push(m);
      if (m.event === 'progress') break;
    }
    const during = await api.system.store.get(res.body.jobId);
    assert.equal(during?.state, 'running', 'the job was mid-way when the server stopped');
    await api.close();
    stream.abort();

    api = await startApi({ dataDir });
    const lastId = before.at(-1)!.id!;
    const after = await collect(await openSse(url(), token, { 'last-event-id': lastId }));
    const all = [...seqs(before), ...seqs(after)];
    assert.deepEqual(all, all.map((_, i) => i + 1), 'no event lost or repeated across the restart');
    assertEndsTerminal(after, 'succeeded');
    const job = (await getJson<JobView>(`${api.url}/api/jobs/${res.body.jobId}`, token)).body;
    assert.equal(job.status, 'succeeded');
    assert.ok(job.attempts >= 1);
    const dl = await fetch(`${api.url}/api/jobs/${res.body.jobId}/outputs/full`, { headers: auth(token) });
    assert.equal(dl.status, 200);
    assert.ok((await dl.arrayBuffer()).byteLength > 0);
  } finally {
    await api.close();
    await removeDataDir(dataDir);
  }
});
