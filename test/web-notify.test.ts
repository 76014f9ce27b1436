// "Tell me when it is ready" on the job page, pressed by the user after Sync. Allowed: the job ending in a
// hidden tab shows one notification titled "Your video is ready" naming both files. Denied (what headless
// Chromium answers by default) or the prompt closed: the page says so instead of doing nothing. Chromium via
// playwright-core against a real server with one real worker; another user's long job keeps ours waiting
// until the test lets it go (by cancelling that job).
//
// BROWSER API: headless tabs are never hidden, so the page is told it is; Notification is wrapped to record
// what the page shows; a closed prompt (no choice) cannot be clicked in headless Chromium, so
// requestPermission answers 'default' in that one test.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { makeApiSyncPair } from './helpers/api-media.ts';
import type { ApiSyncPair } from './helpers/api-media.ts';
import { auth, newToken, removeDataDir, sendJson, startApi, upload } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import type { RecordedNotes } from './helpers/web.ts';
import { auditPhoneWidths, chooseBothAndSync, consoleErrors, ensureWebBuilt, launchChromium, PHONE, recordNotifications } from './helpers/web.ts';

type Lang = 'en' | 'zh-CN';
type Recorded = RecordedNotes;

describe('web page: the notification button', { timeout: 400_000 }, () => {
  let api: RunningApi;
  let browser: Browser;
  let pair: ApiSyncPair;
  let other: string;
  /** One blocker per test: a blocker that finished would be reused at once by the next identical one. */
  let blockerFiles: { danceFileId: string; bgmFileId: string }[];
  let blockerId = '';

  before(async () => {
    ensureWebBuilt();
    const [mine, ...long] = await Promise.all([
      makeApiSyncPair(),
      ...[0, 1, 2].map((i) => makeApiSyncPair({ name: `web-notify-blocker-${i}`, offsetSeconds: 3.2 + i, danceSeconds: 30, bgmSeconds: 36 })),
    ]);
    pair = mine;
    api = await startApi({ concurrency: 1 });
    other = await newToken(api.url);
    blockerFiles = [];
    for (const b of long) blockerFiles.push({ danceFileId: await upload(api, other, b.dance, 'dance'), bgmFileId: await upload(api, other, b.bgm, 'bgm') });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
  });

  /** Another user's long job takes the only worker, so the next one waits in line. */
  async function occupyWorker(): Promise<void> {
    const blocker = await sendJson<{ jobId: string }>('POST', `${api.url}/api/jobs`, blockerFiles.shift(), other);
    assert.equal(blocker.status, 202);
    blockerId = blocker.body.jobId;
  }

  async function releaseWorker(): Promise<void> {
    if (blockerId) await fetch(`${api.url}/api/jobs/${blockerId}/cancel`, { method: 'POST', headers: auth(other) });
    blockerId = '';
  }

  /** A phone with no notification permission yet; notifications and the tab's visibility are recorded. */
  async function phone(lang: Lang, token?: string): Promise<{ ctx: BrowserContext; page: Page; errors: string[] }> {
    const ctx = await browser.newContext({ viewport: PHONE, locale: lang === 'en' ? 'en-US' : 'zh-CN' });
    await ctx.addInitScript(([l, tok]) => {
      localStorage.setItem('beatsync.lang', l);
      if (tok) localStorage.setItem('beatsync.token', tok);
    }, [lang, token ?? ''] as const);
    await ctx.addInitScript(recordNotifications);
    const page = await ctx.newPage();
    return { ctx, page, errors: consoleErrors(page) };
  }

  const tokenOf = (p: Page): Promise<string> => p.evaluate(() => localStorage.getItem('beatsync.token') ?? '');
  const hide = (p: Page, hidden: boolean): Promise<void> => p.evaluate((h) => {
    (globalThis as unknown as Recorded).__hidden = h;
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);

  async function syncFromPage(page: Page): Promise<void> {
    await chooseBothAndSync(page, api.url, pair);
    await page.waitForURL(/#\/job\//);
    await page.waitForSelector('.progress-panel:not([hidden]) .message:has-text("Waiting in line")');
  }

  test('allowed after Sync: the job ending in a hidden tab shows one notification naming both files; the result has the phone-size copy', async () => {
    await occupyWorker();
    const { ctx, page, errors } = await phone('en');
    try {
      await syncFromPage(page);
      assert.equal(await page.isVisible('#notify'), true, 'offered on the job page once the user pressed Sync');
      assert.equal(await page.textContent('#notify'), 'Tell me when it is ready');
      assert.equal(await page.textContent('.notify-note'), '');
      await auditPhoneWidths(page, errors, '06-job-notify-offer-en');
      // The user presses the button and allows notifications in the browser's prompt.
      await ctx.grantPermissions(['notifications'], { origin: api.url });
      // The page may already hide the button on the permission change (a real user grants after pressing): the
      // press itself, not a visibility wait.
      await page.$eval('#notify', (b) => (b as HTMLButtonElement).click());
      await page.waitForSelector('#notify', { state: 'hidden' });
      assert.equal(await page.textContent('.notify-note'), 'You will get a notification when it is ready.');
      await hide(page, true);
      await releaseWorker();
      await page.waitForFunction(() => document.title === '✓ Ready — BeatSync', null, { timeout: 120_000 });
      const notes = await page.evaluate(() => (globalThis as unknown as Recorded).__notes);
      assert.deepEqual(notes, ['Your video is ready|api-sync-dance.mp4 + api-sync-bgm.wav']);
      await hide(page, false);
      await page.waitForSelector('#player');
      assert.equal(await page.textContent('#job-title'), 'Your video is ready');
      // A job made by the page has the phone-size copy, right under the lossless download, with its size.
      const rows = await page.$$eval('.download-list .download-row a.download', (as) => as.map((a) => a.getAttribute('data-variant')));
      assert.deepEqual(rows.slice(0, 2), ['trimmed', 'compact']);
      assert.match(await page.textContent('.download-row.compact') ?? '', /\d+(\.\d)? (KB|MB) · \d+p · quick to send/);
      const compact = await page.request.get(new URL((await page.getAttribute('a.download[data-variant="compact"]', 'href'))!, api.url).toString());
      assert.equal(compact.status(), 200);
      assert.equal((await compact.body()).subarray(4, 8).toString('latin1'), 'ftyp', 'an MP4 file');
    } finally {
      await releaseWorker();
      await ctx.close();
    }
  });

  test('denied (zh-CN): pressing the button says notifications are blocked, and none is shown', async () => {
    await occupyWorker();
    // A job queued from one browser, opened in another that refuses notifications.
    const first = await phone('en');
    let jobUrl = '';
    let token = '';
    try {
      await syncFromPage(first.page);
      jobUrl = first.page.url();
      token = await tokenOf(first.page);
    } finally {
      await first.ctx.close();
    }
    const { ctx, page, errors } = await phone('zh-CN', token);
    try {
      await page.goto(jobUrl);
      await page.waitForSelector('#notify:visible');
      assert.equal(await page.textContent('#notify'), '完成时通知我');
      await page.click('#notify');
      await page.waitForSelector('#notify', { state: 'hidden' });
      assert.equal(await page.evaluate(() => Notification.permission), 'denied');
      assert.equal(await page.textContent('.notify-note'), '浏览器设置禁止了本页面的通知；完成时标签页标题仍会变化。');
      await auditPhoneWidths(page, errors, '06-job-notify-denied-zh-CN');
      await hide(page, true);
      await releaseWorker();
      await page.waitForFunction(() => document.title === '✓ 已完成 — BeatSync', null, { timeout: 120_000 });
      assert.deepEqual(await page.evaluate(() => (globalThis as unknown as Recorded).__notes), [], 'no notification without permission');
    } finally {
      await releaseWorker();
      await ctx.close();
    }
  });

  test('the prompt closed without a choice: the button stays and the page says what happened', async () => {
    await occupyWorker();
    const { ctx, page } = await phone('en');
    try {
      await ctx.addInitScript(() => {
        Notification.requestPermission = (() => Promise.resolve('default')) as typeof Notification.requestPermission;
      });
      await syncFromPage(page);
      await page.click('#notify');
      await page.waitForSelector('.notify-note:has-text("Notifications were not allowed")');
      assert.equal(await page.isVisible('#notify'), true, 'still offered: the user may press it again');
    } finally {
      await releaseWorker();
      await ctx.close();
    }
  });
});
