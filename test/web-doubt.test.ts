// The result page when the engine is not sure, several run-throughs, the phone-size download and share,
// "the sync is off", a job ending in a background tab, and accessibility (axe-core, 0 violations, no console
// errors, no sideways scrolling) on every screen at 390 and 320 px in en and zh-CN. Chromium via
// playwright-core against a real server with a real finished job.
//
// States the tiny test media cannot produce (an ambiguous place, two run-throughs, a compact file, a failed
// job) are made by rewriting the real job's JSON in the browser (route interception, marked "INTERCEPTED");
// their videos are the real job's real outputs. Headless Chromium on Linux has no Web Share and never hides
// a tab, so those two browser APIs are replaced by recorders in the tests that need them (marked "BROWSER API").
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { makeApiSyncPair } from './helpers/api-media.ts';
import { getJson, newToken, removeDataDir, sendJson, startApi, upload, waitFor } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import { audit as auditIn, consoleErrors, ensureWebBuilt, launchChromium, recordNotifications } from './helpers/web.ts';

const ADMIN = 'web-doubt-admin-token-0123456789';
const SHOTS = process.env.BEATSYNC_WEB_SHOTS ?? '/tmp/web-shots';
const WIDTHS = [390, 320] as const;
const LANGS = ['en-US', 'zh-CN'] as const;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('result page: doubt, run-throughs, compact, feedback, background, accessibility', { timeout: 300_000 }, () => {
  let api: RunningApi;
  let browser: Browser;
  let token: string;
  let jobId: string;
  let realView: Json;
  let files: { danceFileId: string; bgmFileId: string };

  before(async () => {
    ensureWebBuilt();
    const pair = await makeApiSyncPair();
    api = await startApi({ argv: ['--admin-token', ADMIN] });
    token = await newToken(api.url);
    files = { danceFileId: await upload(api, token, pair.dance, 'dance'), bgmFileId: await upload(api, token, pair.bgm, 'bgm') };
    const submitted = await sendJson<{ jobId: string }>('POST', `${api.url}/api/jobs`, files, token);
    jobId = submitted.body.jobId;
    realView = await waitFor(async () => {
      const { body } = await getJson<Json>(`${api.url}/api/jobs/${jobId}`, token);
      return body.status === 'succeeded' ? body : undefined;
    });
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
  });

  /** A context signed in as the job's owner, collecting console errors. */
  async function open(width: number, locale: string, extra: { permissions?: string[] } = {}): Promise<{ ctx: BrowserContext; page: Page; errors: string[] }> {
    const ctx = await browser.newContext({ viewport: { width, height: 800 }, locale, permissions: extra.permissions ?? [] });
    await ctx.addInitScript(([tok, lang]) => {
      localStorage.setItem('beatsync.token', tok);
      localStorage.setItem('beatsync.lang', lang);
    }, [token, locale === 'zh-CN' ? 'zh-CN' : 'en'] as const);
    const page = await ctx.newPage();
    return { ctx, page, errors: consoleErrors(page) };
  }

  /** INTERCEPTED: the real job's answer, rewritten to a state the tiny media cannot produce. */
  async function rewriteJob(page: Page, id: string, change: (view: Json) => void): Promise<void> {
    await page.route((url) => url.pathname === `/api/jobs/${id}`, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const view = structuredClone(realView);
      change(view);
      await route.fulfill({ json: view });
    });
  }

  const audit = (page: Page, errors: string[], name: string): Promise<void> => auditIn(page, errors, name, SHOTS);
  const outputs = (id: string) => `/api/jobs/${encodeURIComponent(id)}/outputs`;
  const variant = (view: Json, name: string): Json => view.result.variants.find((v: Json) => v.variant === name);

  function makeAmbiguous(view: Json): void {
    const a = view.result.report.alignment;
    a.ambiguous = true;
    a.confidence = 0.45;
    view.result.report.alternate = { ...a, offsetSeconds: a.offsetSeconds + 16 };
    // The alternate plays the real `full` output (a different file, so the two players differ).
    const full = variant(view, 'full');
    view.result.variants.push({ ...full, variant: 'alternate', flagged: true, url: full.url, downloadUrl: full.downloadUrl });
  }

  function makeRunThroughs(view: Json): void {
    const a = view.result.report.alignment;
    const trimmed = variant(view, 'trimmed');
    a.segments = [
      { danceStart: 0.4, danceEnd: 2.6, offsetSeconds: a.offsetSeconds, speed: 1, driftPpm: 0, confidence: 0.95 },
      { danceStart: 3.6, danceEnd: 5.8, offsetSeconds: a.offsetSeconds - 3.2, speed: 1, driftPpm: 0, confidence: 0.9 },
    ];
    trimmed.clip = 1;
    view.result.variants.push(
      { ...trimmed, variant: 'trimmed-2', clip: 2, segment: { danceStart: 3.6, danceEnd: 5.8, offsetSeconds: a.offsetSeconds - 3.2 }, url: `${outputs(view.jobId)}/trimmed-2`, downloadUrl: `${outputs(view.jobId)}/trimmed-2?download=1` },
      { variant: 'compact', bytes: 1_234_567, durationSeconds: trimmed.durationSeconds, width: 1280, height: 720, url: `${outputs(view.jobId)}/compact`, downloadUrl: `${outputs(view.jobId)}/compact?download=1` },
      { variant: 'compact-2', clip: 2, bytes: 987_654, durationSeconds: trimmed.durationSeconds, width: 1280, height: 720, url: `${outputs(view.jobId)}/compact-2`, downloadUrl: `${outputs(view.jobId)}/compact-2?download=1` },
    );
    delete view.result.variants.find((v: Json) => v.variant === 'compact').sizeBytes;
  }

  /** Serves an intercepted variant's file from the real trimmed output. */
  async function serveAsTrimmed(page: Page, name: string): Promise<string[]> {
    const asked: string[] = [];
    await page.route((url) => url.pathname === `${outputs(jobId)}/${name}`, async (route) => {
      asked.push(route.request().url());
      const real = new URL(route.request().url());
      real.pathname = `${outputs(jobId)}/trimmed`;
      await route.fulfill({ response: await route.fetch({ url: real.toString() }) });
    });
    return asked;
  }

  async function resultReady(page: Page): Promise<void> {
    await page.waitForSelector('#player');
    await page.waitForFunction(() => (document.querySelector<HTMLVideoElement>('#player')?.readyState ?? 0) >= 1, null, { timeout: 15_000 });
    await page.waitForFunction(() => document.querySelector('.picture-note')?.textContent === '');
  }

  test('a sure match: no doubt card, plain words instead of numbers, "the sync is off" records the nudge', async () => {
    const { ctx, page, errors } = await open(390, 'en-US');
    try {
      await page.goto(`${api.url}/#/job/${jobId}`);
      await resultReady(page);
      assert.equal(await page.locator('.doubt').count(), 0);
      const details = await page.textContent('.details') ?? '';
      assert.match(details, /^Your recording (starts|and the song)/);
      assert.doesNotMatch(details, /\d+ of \d+|checks|speed/, 'no meaningless numbers');
      // Seconds are reachable now: +1 s, then −10 ms.
      await page.click('button.step[data-step="1000"]');
      await page.click('button.step[data-step="-10"]');
      assert.equal(await page.inputValue('#nudge'), '990');
      await page.click('#sync-off');
      await page.waitForSelector('text=Thank you — we saved this case (shift 990 ms).');
      const list = await getJson<{ feedback: Json[] }>(`${api.url}/api/admin/feedback`, ADMIN);
      assert.equal(list.body.feedback.length, 1);
      assert.equal(list.body.feedback[0].jobId, jobId);
      assert.equal(list.body.feedback[0].nudgeMs, 990);
      assert.equal(list.body.feedback[0].variant, 'trimmed');
      assert.deepEqual(errors, []);
    } finally {
      await ctx.close();
    }
  });

  for (const locale of LANGS) {
    test(`ambiguous (${locale}): said first, both places side by side, one tap picks, nothing re-rendered`, async () => {
      const { ctx, page, errors } = await open(390, locale);
      try {
        await rewriteJob(page, jobId, makeAmbiguous);
        const posts: string[] = [];
        page.on('request', (r) => {
          if (r.method() === 'POST' && new URL(r.url()).pathname.startsWith('/api/jobs')) posts.push(r.url());
        });
        await page.goto(`${api.url}/#/job/${jobId}`);
        await resultReady(page);
        const first = await page.$eval('.result-host', (el) => el.firstElementChild?.className ?? '');
        assert.match(first, /\bdoubt\b/, 'the doubt comes before anything else of the result');
        const title = locale === 'zh-CN' ? '我们不确定这段录像在歌曲中的位置' : 'We are not sure where this recording sits in the song';
        assert.equal(await page.textContent('#doubt-title'), title);
        assert.equal(await page.locator('.candidates video').count(), 2);
        await page.waitForFunction(() => [...document.querySelectorAll<HTMLVideoElement>('.candidates video')].every((v) => v.readyState >= 1), null, { timeout: 15_000 });
        const srcs = await page.$$eval('.candidates video', (vs) => vs.map((v) => new URL((v as HTMLVideoElement).src).pathname));
        assert.deepEqual(srcs.map((p) => p.split('/').pop()), ['trimmed', 'full']);
        // Side by side, even on a phone.
        const boxes = await page.$$eval('.candidate', (els) => els.map((e) => e.getBoundingClientRect().top));
        assert.equal(Math.round(boxes[0]), Math.round(boxes[1]));
        assert.equal(await page.getAttribute('.pick[data-variant="trimmed"]', 'aria-pressed'), 'true');
        assert.equal(await page.getAttribute('.download-row.main a.download', 'data-variant'), 'trimmed');
        await audit(page, errors, `10-doubt-${locale}`);

        await page.click('.pick[data-variant="alternate"]');
        assert.equal(await page.getAttribute('.pick[data-variant="alternate"]', 'aria-pressed'), 'true');
        assert.equal(await page.getAttribute('.pick[data-variant="trimmed"]', 'aria-pressed'), 'false');
        assert.equal(await page.getAttribute('.download-row.main a.download', 'data-variant'), 'alternate');
        assert.match(await page.getAttribute('.download-row.main a.download', 'href') ?? '', /\/outputs\/full\?download=1/);
        await page.waitForFunction(() => document.querySelector<HTMLVideoElement>('#player')?.src.includes('/outputs/full'));
        // The pick survives a reload and made no new job.
        await page.reload();
        await resultReady(page);
        assert.equal(await page.getAttribute('.download-row.main a.download', 'data-variant'), 'alternate');
        assert.deepEqual(posts, [], 'picking re-renders nothing');
        await audit(page, errors, `11-doubt-picked-${locale}`);
      } finally {
        await ctx.close();
      }
    });
  }

  test('a weak match on an old job (no `ambiguous`, no alternate): doubt said first, advice to listen', async () => {
    const { ctx, page, errors } = await open(390, 'zh-CN');
    try {
      await rewriteJob(page, jobId, (view) => {
        const a = view.result.report.alignment;
        delete a.ambiguous;
        delete a.segments;
        a.confidence = 0.6;
      });
      await page.goto(`${api.url}/#/job/${jobId}`);
      await resultReady(page);
      assert.equal(await page.textContent('#doubt-title'), '我们不确定这段录像在歌曲中的位置');
      assert.match(await page.textContent('.doubt') ?? '', /同步不对/);
      assert.equal(await page.locator('.candidates').count(), 0);
      await audit(page, errors, '12-doubt-weak-zh-CN');
    } finally {
      await ctx.close();
    }
  });

  test('two run-throughs: the picture marks both, one clip each with its own download, compact beside the lossless one and shared', async () => {
    const { ctx, page, errors } = await open(390, 'en-US');
    try {
      // BROWSER API: Linux Chromium has no Web Share; record what would be shared.
      await ctx.addInitScript(() => {
        const shared: string[] = [];
        (globalThis as unknown as { __shared: string[] }).__shared = shared;
        Object.assign(navigator, {
          canShare: () => true,
          share: async (data: { files: File[] }) => { shared.push(`${data.files[0].name}:${data.files[0].size}`); },
        });
      });
      await rewriteJob(page, jobId, makeRunThroughs);
      const compactAsked = await serveAsTrimmed(page, 'compact');
      await serveAsTrimmed(page, 'trimmed-2');
      await page.goto(`${api.url}/#/job/${jobId}`);
      await resultReady(page);
      assert.equal(await page.getAttribute('canvas.alignment', 'data-segments'), '2');
      // Both bands are shaded (top rows, above the curves), the gap between them is not.
      const shades = await page.$eval('canvas.alignment', (c) => {
        const canvas = c as HTMLCanvasElement;
        const g = canvas.getContext('2d')!;
        const at = (s: number) => Array.from(g.getImageData(Math.round((s / 6) * canvas.width), 2, 1, 1).data.slice(0, 3)).join(',');
        return { one: at(1.8), gap: at(3.1), two: at(5.2) };
      });
      assert.notEqual(shades.one, shades.gap, 'run-through 1 is marked');
      assert.notEqual(shades.two, shades.gap, 'run-through 2 is marked');
      const items = await page.$$eval('.segments li', (li) => li.map((l) => l.textContent ?? ''));
      assert.equal(items.length, 2);
      assert.match(items[0], /^Run-through 1: 0:00–0:03 of your video, song from \d+:\d\d$/);
      assert.match(items[1], /^Run-through 2: 0:04–0:06 of your video, song from \d+:\d\d$/);
      assert.equal(await page.textContent('#tab-trimmed'), `Run-through 1${await page.textContent('#tab-trimmed .tab-meta')}`);
      await page.click('#tab-trimmed-2');
      await page.waitForFunction(() => document.querySelector<HTMLVideoElement>('#player')?.src.includes('/outputs/trimmed-2'));
      assert.match(await page.textContent('.variant-hint') ?? '', /^Run-through 2 of 2/);
      assert.match(await page.getAttribute('a.download[data-variant="trimmed-2"]', 'href') ?? '', /\/outputs\/trimmed-2\?download=1/);
      assert.match(await page.textContent('a.download[data-variant="trimmed-2"]') ?? '', /Run-through 2/);
      // The phone-size file sits right under the main one, with its size.
      const rows = await page.$$eval('.download-list .download-row a.download', (as) => as.map((a) => a.getAttribute('data-variant')));
      assert.deepEqual(rows.slice(0, 2), ['trimmed', 'compact']);
      assert.match(await page.textContent('.download-row.compact') ?? '', /1\.2 MB · 720p/);
      // Each further run-through's phone-size file sits right under its clip, and says whose it is.
      assert.equal(rows.indexOf('compact-2'), rows.indexOf('trimmed-2') + 1, rows.join(', '));
      assert.equal(rows.length, 5, rows.join(', '));
      assert.match(await page.textContent('a.download[data-variant="compact-2"]') ?? '', /Run-through 2/);
      assert.match(await page.textContent('.download-row.compact:has(a[data-variant="compact-2"])') ?? '', /965 KB · 720p/);
      assert.match(await page.getAttribute('a.download[data-variant="compact-2"]', 'href') ?? '', /\/outputs\/compact-2\?download=1/);
      // Share sends the phone-size file.
      assert.equal(await page.getAttribute('.download-row.main button.share', 'data-variant'), 'compact');
      await page.click('.download-row.main button.share');
      await page.waitForFunction(() => (globalThis as unknown as { __shared: string[] }).__shared.length === 1);
      const shared = await page.evaluate(() => (globalThis as unknown as { __shared: string[] }).__shared[0]);
      assert.match(shared, /-beatsync-compact\.mp4:\d{4,}$/);
      assert.ok(compactAsked.length >= 1, 'the compact file was fetched');
      await audit(page, errors, '13-run-throughs-en');
    } finally {
      await ctx.close();
    }
  });

  test('a job that ends while the tab is hidden: the title changes and a notification is shown', async () => {
    // Another user's longer job holds the only worker, so this one is seen waiting, then ends.
    const blockerPair = await makeApiSyncPair({ name: 'web-doubt-blocker', offsetSeconds: 3.2, danceSeconds: 10, bgmSeconds: 16 });
    const other = await newToken(api.url);
    const blockerFiles = { danceFileId: await upload(api, other, blockerPair.dance, 'dance'), bgmFileId: await upload(api, other, blockerPair.bgm, 'bgm') };
    const { ctx, page, errors } = await open(390, 'en-US', { permissions: ['notifications'] });
    try {
      await ctx.addInitScript(recordNotifications);
      const blocker = await sendJson<{ jobId: string }>('POST', `${api.url}/api/jobs`, blockerFiles, other);
      const mine = await sendJson<{ jobId: string }>('POST', `${api.url}/api/jobs`, { ...files, options: { nudgeMs: 7 } }, token);
      await page.goto(`${api.url}/#/job/${mine.body.jobId}`);
      await page.waitForSelector('.progress-panel:not([hidden])');
      // Already allowed: nothing to offer, the page says it will notify.
      assert.equal(await page.isHidden('#notify'), true);
      assert.match(await page.textContent('.notify-note') ?? '', /You will get a notification/);
      await audit(page, errors, '06-job-waiting-en');
      await page.evaluate(() => {
        (globalThis as unknown as { __hidden: boolean }).__hidden = true;
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await page.waitForFunction(() => document.title === '✓ Ready — BeatSync', null, { timeout: 90_000 });
      const notes = await page.evaluate(() => (globalThis as unknown as { __notes: string[] }).__notes);
      assert.deepEqual(notes, ['Your video is ready|'], 'one notification (this job was submitted outside the page: no names)');
      await page.evaluate(() => {
        (globalThis as unknown as { __hidden: boolean }).__hidden = false;
        document.dispatchEvent(new Event('visibilitychange'));
      });
      assert.equal(await page.title(), 'BeatSync — Syncing your video');
      void blocker;
    } finally {
      await ctx.close();
    }
  });

  test('notification permission is offered only after Sync, never on arrival', async () => {
    const { ctx, page } = await open(390, 'en-US');
    try {
      await ctx.addInitScript(() => {
        const w = globalThis as unknown as { __asked: number };
        w.__asked = 0;
        const real = Notification.requestPermission.bind(Notification);
        Notification.requestPermission = (() => { w.__asked++; return real(); }) as typeof Notification.requestPermission;
      });
      await page.goto(api.url);
      await page.waitForSelector('#sync');
      await page.goto(`${api.url}/#/history`);
      await page.waitForSelector('.history-item');
      assert.equal(await page.evaluate(() => (globalThis as unknown as { __asked: number }).__asked), 0);
    } finally {
      await ctx.close();
    }
  });

  test('accessibility: every screen at 390 and 320 px in en and zh-CN has 0 axe violations, no console errors, no sideways scroll', async () => {
    for (const locale of LANGS) {
      for (const width of WIDTHS) {
        const { ctx, page, errors } = await open(width, locale);
        const tag = `${locale}`;
        try {
          await page.goto(api.url);
          await page.waitForSelector('#sync');
          await audit(page, errors, `01-new-${tag}`);
          await page.goto(`${api.url}/#/job/${jobId}`);
          await resultReady(page);
          await audit(page, errors, `04-result-${tag}`);
          await page.goto(`${api.url}/#/history`);
          await page.waitForSelector('.history-item');
          await audit(page, errors, `08-history-${tag}`);
          // INTERCEPTED: the same job as a failed one (the song does not match), and with two run-throughs.
          await rewriteJob(page, jobId, (view) => {
            view.status = 'failed';
            view.result = null;
            view.error = { code: 'NO_MATCH', message: 'x', retryable: false };
          });
          await page.goto(`${api.url}/#/job/${jobId}`);
          await page.waitForSelector('.error-panel:not([hidden])');
          await audit(page, errors, `07-no-match-${tag}`);
          await page.unrouteAll();
          await rewriteJob(page, jobId, (view) => {
            makeAmbiguous(view);
            makeRunThroughs(view);
          });
          await serveAsTrimmed(page, 'compact');
          await page.reload();
          await resultReady(page);
          await audit(page, errors, `14-doubt-run-throughs-${tag}`);
        } finally {
          await ctx.close();
        }
      }
    }
  });
});
