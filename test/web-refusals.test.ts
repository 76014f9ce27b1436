// The page when the server refuses a new job. TOO_MANY_JOBS (the per-token queue cap) only clears when one of
// the user's jobs finishes, so the page says so at once in its own words after a single POST; the rate
// limiter's 429 passes by itself, so the page waits for its Retry-After and sends the job again. Chromium via
// playwright-core against a real server with no workers (a submitted job stays queued and counts). The refused
// file and the cancelled job screens are audited with axe-core too.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { makeApiSyncPair } from './helpers/api-media.ts';
import type { ApiSyncPair } from './helpers/api-media.ts';
import { newToken, removeDataDir, sendJson, upload } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import { startApiWithoutWorkers } from './helpers/clients.ts';
import { fixtureDir } from './helpers/media.ts';
import { auditPhoneWidths, chooseBothAndSync, consoleErrors, ensureWebBuilt, launchChromium, PHONE } from './helpers/web.ts';

describe('web page: a refused job, a refused file, a cancelled job', { timeout: 180_000 }, () => {
  let api: RunningApi;
  let browser: Browser;
  let pair: ApiSyncPair;
  let notMedia: string;

  before(async () => {
    ensureWebBuilt();
    pair = await makeApiSyncPair();
    notMedia = join(fixtureDir(), 'refusals-notes.mp4');
    await writeFile(notMedia, 'Notes for Tuesday, not a video.\n'.repeat(200));
    api = await startApiWithoutWorkers(['--quota-jobs', '1']);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
  });

  /** A phone signed in as `token`, in `lang`, counting the page's POST /api/jobs. */
  async function phone(token: string, lang: 'en' | 'zh-CN'): Promise<{ page: Page; posts: number[]; errors: string[]; close: () => Promise<void> }> {
    const ctx = await browser.newContext({ viewport: PHONE, locale: lang === 'en' ? 'en-US' : 'zh-CN' });
    await ctx.addInitScript(([tok, l]) => {
      localStorage.setItem('beatsync.token', tok);
      localStorage.setItem('beatsync.lang', l);
    }, [token, lang] as const);
    const page = await ctx.newPage();
    const errors = consoleErrors(page);
    const posts: number[] = [];
    page.on('response', (res) => {
      if (res.request().method() === 'POST' && new URL(res.url()).pathname === '/api/jobs') posts.push(res.status());
    });
    return { page, posts, errors, close: () => ctx.close() };
  }

  const chooseAndSync = (page: Page): Promise<void> => chooseBothAndSync(page, api.url, pair);

  for (const lang of ['en', 'zh-CN'] as const) {
    test(`TOO_MANY_JOBS (${lang}): said at once in the page's words, one POST, the files stay chosen`, async () => {
      // This token already has its one job waiting (nothing runs it).
      const token = await newToken(api.url);
      const waiting = await sendJson('POST', `${api.url}/api/jobs`, { danceFileId: await upload(api, token, pair.dance, 'dance'), bgmFileId: await upload(api, token, pair.bgm, 'bgm') }, token);
      assert.equal(waiting.status, 202);
      const { page, posts, errors, close } = await phone(token, lang);
      try {
        await chooseAndSync(page);
        const words = lang === 'en' ? /^You already have as many videos waiting as one person may\. .*press Sync again/ : /^你排队中的视频已达上限。.*再按“同步”/;
        // The server asks to come back in 60 s; the old page retried silently for minutes before saying anything.
        await page.waitForFunction(() => (document.querySelector('.sync-row [role="alert"]')?.textContent ?? '') !== '', null, { timeout: 20_000 });
        assert.match(await page.textContent('.sync-row [role="alert"]') ?? '', words);
        assert.deepEqual(posts, [429], 'one POST, not retried');
        assert.equal(await page.isDisabled('#sync'), false, 'Sync can be pressed again later');
        assert.equal(await page.getAttribute('.slot-dance', 'data-phase'), 'done');
        assert.doesNotMatch(page.url(), /#\/job\//, 'still on the new-video page');
        // The browser logs the refused request itself; the page logs nothing of its own.
        await auditPhoneWidths(page, errors.filter((e) => !/status of 429/.test(e)), `09-new-too-many-jobs-${lang}`);
        assert.deepEqual(posts, [429], 'still one POST');
      } finally {
        await close();
      }
    });
  }

  test("the rate limiter's 429 is waited out (Retry-After), the header says the server is busy meanwhile, and the job is sent again", async () => {
    const token = await newToken(api.url);
    const { page, posts, close } = await phone(token, 'en');
    try {
      // INTERCEPTED: the first POST /api/jobs gets the rate limiter's real answer shape with a short Retry-After
      // (the real limiter's window is a minute); the second goes to the server.
      let refused = 0;
      await page.route((url) => url.pathname === '/api/jobs', async (route) => {
        if (route.request().method() !== 'POST' || refused > 0) return route.continue();
        refused++;
        await route.fulfill({
          status: 429,
          headers: { 'retry-after': '2' },
          json: { error: { code: 'RATE_LIMITED', message: 'Too many requests. Please slow down and try again shortly.', retryable: true } },
        });
      });
      await chooseAndSync(page);
      // While it waits the header says why (it used to show nothing but "Starting…" for up to minutes).
      await page.waitForFunction(() => /server is busy/.test(document.querySelector('.net')?.textContent ?? ''), null, { timeout: 10_000 });
      await page.waitForURL(/#\/job\//, { timeout: 30_000 });
      await page.waitForFunction(() => (document.querySelector('.net')?.textContent ?? '') === '', null, { timeout: 10_000 });
      assert.equal(refused, 1);
      assert.deepEqual(posts, [429, 202], 'refused once, then accepted');
    } finally {
      await close();
    }
  });

  for (const lang of ['en', 'zh-CN'] as const) {
    test(`a file that is not media, and a job cancelled while waiting (${lang}): 0 axe violations at 390 and 320 px`, async () => {
      const token = await newToken(api.url);
      const { page, errors, close } = await phone(token, lang);
      try {
        await page.goto(api.url);
        await page.setInputFiles('#file-dance', notMedia);
        await page.waitForSelector('.slot-dance[data-phase="error"]', { timeout: 20_000 });
        // The browser logs the refused upload itself; the page logs nothing of its own.
        const own = () => errors.filter((e) => !/status of 415/.test(e));
        await auditPhoneWidths(page, own(), `03-new-error-${lang}`);
        // This token has no job yet, so the cap lets one in; no worker runs it, so it waits until cancelled.
        const waiting = await sendJson<{ jobId: string }>('POST', `${api.url}/api/jobs`, { danceFileId: await upload(api, token, pair.dance, 'dance'), bgmFileId: await upload(api, token, pair.bgm, 'bgm') }, token);
        assert.equal(waiting.status, 202);
        await page.goto(`${api.url}/#/job/${waiting.body.jobId}`);
        await page.waitForSelector('.progress-panel:not([hidden]) #cancel');
        await page.click('#cancel');
        await page.waitForSelector('.error-panel:not([hidden])');
        assert.equal(await page.textContent('.error-panel h2'), lang === 'en' ? 'Cancelled.' : '已取消。');
        await auditPhoneWidths(page, own(), `06-job-cancelled-${lang}`);
      } finally {
        await close();
      }
    });
  }
});
