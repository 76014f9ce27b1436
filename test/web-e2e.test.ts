// The web page in a real browser (Debian's chromium via playwright-core) against a real server with real
// workers and small generated media: upload both files, sync, follow, preview, compare, download; reload in
// the middle of an upload (it resumes) and of processing (the job view comes back); cancel; a non-media file
// and a mismatched song show their messages; the nudge re-render; deleting a finished job from the history. Screenshots of every screen at phone
// and desktop widths go to test-artifacts/screenshots/.
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { makeApiSyncPair } from './helpers/api-media.ts';
import type { ApiSyncPair } from './helpers/api-media.ts';
import { auth, getJson, newToken, removeDataDir, sendJson, startApi, upload } from './helpers/api.ts';
import type { RunningApi } from './helpers/api.ts';
import { fixtureDir, makeVideo, songExcerpt } from './helpers/media.ts';
import { DESKTOP, ensureWebBuilt, launchChromium, PHONE, screenshot } from './helpers/web.ts';

interface JobAnswer { status: string; input: { options: { nudgeMs?: number } }; result: { report: { nudgeMs: number } } | null; error: { code: string } | null }

describe('web page in chromium', { timeout: 180_000 }, () => {
  let api: RunningApi;
  let browser: Browser;
  let pair: ApiSyncPair;
  let otherSong: string;
  let notMedia: string;
  let bigVideo: string;
  let phone: BrowserContext;
  let page: Page;
  let resultHash = '';
  let noMatchHash = '';
  let nudgeJobId = '';

  before(async () => {
    ensureWebBuilt();
    [pair, otherSong, bigVideo] = await Promise.all([
      makeApiSyncPair(),
      songExcerpt('web-other-song.wav', 'muldjord-armygeddon.ogg', 30, 12),
      makeVideo('web-big.mp4', { seconds: 4, width: 1280, height: 720, audio: { source: 'noise' } }),
    ]);
    notMedia = join(fixtureDir(), 'class-notes.mp4');
    await writeFile(notMedia, 'These are my notes for Tuesday, not a video.\n'.repeat(200));
    api = await startApi({ concurrency: 1 });
    browser = await launchChromium();
    phone = await browser.newContext({ viewport: PHONE, acceptDownloads: true, locale: 'en-US' });
    page = await phone.newPage();
  });

  after(async () => {
    await browser?.close();
    await api?.close();
    if (api) await removeDataDir(api.dataDir);
  });

  const jobIdOf = (p: Page): string => decodeURIComponent(/#\/job\/([^/?#]+)/.exec(p.url())?.[1] ?? '');
  const tokenOf = (p: Page): Promise<string> => p.evaluate(() => localStorage.getItem('beatsync.token') ?? '');

  /** Pixels of the music curve's colour on the alignment canvas. */
  const musicInk = (p: Page): Promise<number> => p.$eval('canvas.alignment', (c) => {
    const canvas = c as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let music = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 2] > 150 && data[i] < 90) music++;
    return music;
  });

  async function chooseBoth(p: Page, dance: string, bgm: string): Promise<void> {
    await p.setInputFiles('#file-dance', dance);
    await p.setInputFiles('#file-bgm', bgm);
    await p.waitForSelector('.slot-dance[data-phase="done"]', { timeout: 30_000 });
    await p.waitForSelector('.slot-bgm[data-phase="done"]', { timeout: 30_000 });
  }

  test('the whole flow: choose both files, sync, reload while processing, watch, preview, download', async () => {
    await page.goto(api.url);
    await page.waitForSelector('#sync');
    assert.equal(await page.isDisabled('#sync'), true, 'nothing to sync yet');
    await screenshot(page, '01-new-empty');

    await chooseBoth(page, pair.dance, pair.bgm);
    assert.match(await page.textContent('.slot-dance .status') ?? '', /Video 0:06 · with sound/);
    assert.match(await page.textContent('.slot-bgm .status') ?? '', /Audio 0:12/);
    assert.equal(await page.getAttribute('.slot-dance .bar', 'aria-valuenow'), '100');
    await screenshot(page, '02-new-ready');

    await page.click('#sync');
    await page.waitForURL(/#\/job\//);
    const jobId = jobIdOf(page);
    await page.waitForSelector('.progress-panel .stages li[data-state="active"]');
    await screenshot(page, '06-job-progress');
    // Leaving is safe: a reload (or opening the link later) brings the same job back.
    await page.reload();
    await page.waitForSelector('#job-title');
    assert.equal(jobIdOf(page), jobId);

    await page.waitForSelector('#player', { timeout: 60_000 });
    resultHash = new URL(page.url()).hash;
    assert.equal(await page.textContent('#job-title'), 'Your video is ready');
    // The player streams the trimmed variant (Range) and knows its length.
    await page.waitForFunction(() => (document.querySelector<HTMLVideoElement>('#player')?.readyState ?? 0) >= 1, null, { timeout: 15_000 });
    const duration = await page.$eval('#player', (v) => (v as HTMLVideoElement).duration);
    assert.ok(duration > 1 && duration < 7, `player duration ${duration}`);
    assert.match(await page.textContent('.sentence') ?? '', /^Matched with (high|fair|low) confidence; the phone's clock/);
    // The picture survives the reload: both files' envelopes were measured in the browser and kept.
    await page.waitForFunction(() => document.querySelector('.picture-note')?.textContent === '');
    const envs = await page.evaluate(() => (JSON.parse(localStorage.getItem('beatsync.env-index') ?? '[]') as string[])
      .map((id) => JSON.parse(localStorage.getItem(`beatsync.env.${id}`) ?? 'null') as { values: number[] } | null));
    assert.equal(envs.length, 2);
    for (const env of envs) assert.ok(env && env.values.length > 100 && env.values.some((v) => v > 0.5), 'an envelope with sound in it');
    const inked = await musicInk(page);
    assert.ok(inked > 200, `the music curve is drawn (${inked} px)`);
    await screenshot(page, '04-result');

    // Switch variants.
    await page.click('#tab-full');
    assert.equal(await page.getAttribute('#tab-full', 'aria-selected'), 'true');
    await page.waitForFunction(() => document.querySelector<HTMLVideoElement>('#player')?.src.includes('/outputs/full'));

    // The preview plays the song through Web Audio with the video muted.
    await page.click('#preview');
    await page.waitForFunction(() => document.querySelector('#preview')?.getAttribute('aria-pressed') === 'true', null, { timeout: 15_000 });
    assert.equal(await page.$eval('#player', (v) => (v as HTMLVideoElement).muted), true);
    await page.click('#preview');
    assert.equal(await page.$eval('#player', (v) => (v as HTMLVideoElement).muted), false);

    // Download: an attachment with a name that says what it is.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('a.download[data-variant="trimmed"]')]);
    assert.match(download.suggestedFilename(), /^api-sync-dance-beatsync-trimmed\.mp4$/);
    const saved = await download.path();
    assert.ok(saved && (await stat(saved)).size > 10_000);
    const head = (await readFile(saved)).subarray(4, 8).toString('latin1');
    assert.equal(head, 'ftyp', 'an MP4 file');
  });

  test('desktop: the same job side by side, and the history page', async () => {
    assert.ok(resultHash, 'the flow test made a job');
    // Another device: the same token and job list, but none of the curves the phone measured while uploading.
    const state = await phone.storageState();
    for (const origin of state.origins) origin.localStorage = origin.localStorage.filter((e) => !e.name.startsWith('beatsync.env'));
    const desk = await browser.newContext({ viewport: DESKTOP, storageState: state, locale: 'en-US' });
    try {
      const p = await desk.newPage();
      await p.goto(`${api.url}/${resultHash}`);
      await p.waitForSelector('#player');
      await p.waitForFunction(() => (document.querySelector<HTMLVideoElement>('#player')?.readyState ?? 0) >= 1);
      // The picture is drawn from the server's curves.
      await p.waitForFunction(() => document.querySelector('.picture-note')?.textContent === '');
      assert.equal(await p.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('beatsync.env')).length), 0);
      assert.ok(await musicInk(p) > 200, 'the music curve is drawn from the server\'s curves');
      await screenshot(p, '04-result');
      await p.click('.compare-toggle');
      await p.waitForSelector('.compare video');
      assert.equal(await p.locator('.compare video').count(), 2);
      await p.waitForFunction(() => [...document.querySelectorAll<HTMLVideoElement>('.compare video')].every((v) => v.readyState >= 1));
      await screenshot(p, '05-compare');

      await p.goto(`${api.url}/#/history`);
      await p.waitForSelector('.history-item');
      assert.match(await p.textContent('.history-item .badge') ?? '', /Ready/);
      assert.match(await p.textContent('.history-item') ?? '', /api-sync-dance\.mp4/);
      await p.waitForFunction(() => (document.querySelector<HTMLVideoElement>('.thumb video')?.readyState ?? 0) >= 1);
      await screenshot(p, '08-history');
      await page.goto(`${api.url}/#/history`);
      await page.waitForSelector('.history-item');
      await page.waitForFunction(() => (document.querySelector<HTMLVideoElement>('.thumb video')?.readyState ?? 0) >= 1);
      await screenshot(page, '08-history');

      // The language follows the switch (and the browser), everywhere.
      await p.click('button.lang');
      await p.waitForSelector('text=我的视频');
      assert.equal(await p.getAttribute('html', 'lang'), 'zh-CN');
      await p.goto(`${api.url}/${resultHash}`);
      await p.waitForSelector('#player');
      assert.match(await p.textContent('.sentence') ?? '', /^匹配可信度/);
      await screenshot(p, '04-result-zh');
    } finally {
      await desk.close();
    }
  });

  test('fine-tune: the nudge re-render makes a new job from the same uploads', async () => {
    await page.goto(`${api.url}/${resultHash}`);
    await page.waitForSelector('#nudge');
    assert.equal(await page.isDisabled('#render-nudge'), true, 'nothing to render at the found offset');
    await page.fill('#nudge', '35');
    await page.click('button.step[data-step="10"]');
    assert.equal(await page.inputValue('#nudge-range'), '45');
    await page.click('#render-nudge');
    await page.waitForURL((url) => url.hash.startsWith('#/job/') && url.hash !== resultHash);
    const jobId = jobIdOf(page);
    nudgeJobId = jobId;
    await page.waitForSelector('#player', { timeout: 60_000 });
    const { body } = await getJson<JobAnswer>(`${api.url}/api/jobs/${jobId}`, await tokenOf(page));
    assert.equal(body.status, 'succeeded');
    assert.equal(body.input.options.nudgeMs, 45);
    assert.equal(body.result?.report.nudgeMs, 45);
    assert.equal(await page.inputValue('#nudge'), '45', 'the control starts at this job\'s shift');
  });

  test('a file that is not media says so next to it', async () => {
    await page.goto(`${api.url}/#/`);
    await page.setInputFiles('#file-dance', notMedia);
    await page.waitForSelector('.slot-dance[data-phase="error"]', { timeout: 20_000 });
    const text = await page.textContent('.slot-dance .status') ?? '';
    assert.match(text, /not a video or audio file/);
    assert.match(text, /Choose a video or audio file/);
    assert.equal(await page.getAttribute('.slot-dance .status', 'role'), 'alert');
    assert.equal(await page.isDisabled('#sync'), true);
    await screenshot(page, '03-new-error');
  });

  test('a song that is not the one in the video: NO_MATCH, then pick another music file', async () => {
    await page.goto(`${api.url}/#/`);
    await chooseBoth(page, pair.dance, otherSong);
    await page.click('#sync');
    await page.waitForURL(/#\/job\//);
    await page.waitForSelector('.error-panel:not([hidden])', { timeout: 60_000 });
    assert.equal(await page.textContent('.error-panel h2'), 'The song does not seem to be the one in the video.');
    noMatchHash = new URL(page.url()).hash;
    await screenshot(page, '07-no-match');
    await page.click('#pick-music');
    await page.waitForURL(/#\/$/);
    // The class video is kept; only the music is to be chosen again.
    await page.waitForSelector('.slot-dance[data-phase="restored"] .status[data-tone="ok"]');
    assert.equal(await page.textContent('.slot-dance .file-name'), 'api-sync-dance.mp4');
    assert.equal(await page.getAttribute('.slot-bgm', 'data-phase'), 'empty');
    await page.setInputFiles('#file-bgm', pair.bgm);
    await page.waitForSelector('.slot-bgm[data-phase="done"]');
    assert.equal(await page.isDisabled('#sync'), false);
  });

  test('reload in the middle of an upload: choosing the same file again resumes where it stopped', async () => {
    const ctx = await browser.newContext({ viewport: PHONE, locale: 'zh-CN' });
    try {
      const p = await ctx.newPage();
      // A slow network: every chunk takes a while, and one connection drops on the way.
      const offsets: number[] = [];
      await p.route('**/api/uploads/tus/*', async (route) => {
        const req = route.request();
        if (req.method() === 'PATCH') {
          offsets.push(Number(req.headers()['upload-offset']));
          await new Promise((r) => setTimeout(r, 250));
          if (offsets.length === 2) return route.abort('connectionreset');
        }
        await route.continue();
      });
      await p.goto(api.url);
      assert.equal(await p.textContent('#sync'), '同步', 'Chinese from the browser language');
      await p.setInputFiles('#file-dance', bigVideo);
      await p.waitForFunction(() => (JSON.parse(localStorage.getItem('beatsync.upload.dance') ?? '{}') as { offset?: number }).offset! >= 512 * 1024, null, { timeout: 20_000 });
      // After the drop the upload went on from where the server stood (HEAD), not from 0.
      assert.deepEqual(offsets.slice(0, 3), [0, 256 * 1024, 256 * 1024]);
      await screenshot(p, '02-new-uploading');
      await p.reload();
      await p.waitForSelector('.slot-dance[data-phase="needs-file"]');
      assert.match(await p.textContent('.slot-dance .status') ?? '', /请再次选择同一个文件继续/);
      await screenshot(p, '02-new-resume');
      const before = offsets.length;
      await p.setInputFiles('#file-dance', bigVideo);
      await p.waitForSelector('.slot-dance[data-phase="done"]', { timeout: 30_000 });
      const resumedAt = offsets[before];
      assert.ok(resumedAt >= 512 * 1024, `the first PATCH after the reload starts at ${resumedAt}, not 0`);
      const size = (await stat(bigVideo)).size;
      assert.equal(await p.textContent('.slot-dance .file-meta span'), await p.evaluate((n) => `${(n / 1024 / 1024).toFixed(1)} MB / ${(n / 1024 / 1024).toFixed(1)} MB`, size));
    } finally {
      await ctx.close();
    }
  });

  test('desktop screenshots of the remaining screens', async () => {
    const desk = await browser.newContext({ viewport: DESKTOP, storageState: await phone.storageState(), locale: 'en-US' });
    try {
      const p = await desk.newPage();
      await p.goto(`${api.url}/${noMatchHash}`);
      await p.waitForSelector('.error-panel:not([hidden]) #pick-music');
      await screenshot(p, '07-no-match');
      await p.evaluate(() => localStorage.removeItem('beatsync.upload.dance'));
      await p.goto(`${api.url}/#/`);
      await p.reload();
      await p.waitForSelector('.slot-dance[data-phase="empty"]');
      await screenshot(p, '01-new-empty');
      await p.setInputFiles('#file-dance', notMedia);
      await p.waitForSelector('.slot-dance[data-phase="error"]');
      await screenshot(p, '03-new-error');
    } finally {
      await desk.close();
    }
  });

  test('cancel a job waiting in line', async () => {
    // Media no earlier job used (a finished identical job would be reused at once).
    const fresh = await makeApiSyncPair({ name: 'web-blocker', offsetSeconds: 3.2, danceSeconds: 10, bgmSeconds: 16 });
    const other = await newToken(api.url);
    const blockerFiles = { danceFileId: await upload(api, other, fresh.dance, 'dance'), bgmFileId: await upload(api, other, fresh.bgm, 'bgm') };
    const ctx = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    let blockerId = '';
    try {
      const p = await ctx.newPage();
      await p.goto(api.url);
      await chooseBoth(p, pair.dance, pair.bgm);
      await screenshot(p, '02-new-ready');
      // Another user's job takes the only worker just now, so this one waits in line.
      const blocker = await sendJson<{ jobId: string }>('POST', `${api.url}/api/jobs`, blockerFiles, other);
      assert.equal(blocker.status, 202);
      blockerId = blocker.body.jobId;
      await p.click('#sync');
      await p.waitForURL(/#\/job\//);
      await p.waitForSelector('.message:has-text("Waiting in line")');
      await screenshot(p, '06-job-queued');
      await p.click('#cancel');
      await p.waitForSelector('.error-panel:not([hidden]) >> text=Cancelled.');
      const { body } = await getJson<JobAnswer>(`${api.url}/api/jobs/${jobIdOf(p)}`, await tokenOf(p));
      assert.equal(body.status, 'cancelled');
      await screenshot(p, '06-job-cancelled');
    } finally {
      await ctx.close();
      if (blockerId) await fetch(`${api.url}/api/jobs/${blockerId}`, { method: 'DELETE', headers: auth(other) });
    }
  });

  test('history: deleting a finished job removes it from the list and from the server', async () => {
    assert.ok(nudgeJobId, 'the nudge test made a job');
    await page.goto(`${api.url}/#/history`);
    const item = `.history-item[data-job="${nudgeJobId}"]`;
    await page.waitForSelector(item);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click(`${item} button.delete`);
    await page.waitForSelector(item, { state: 'detached' });
    const gone = await getJson<{ error: { code: string } }>(`${api.url}/api/jobs/${nudgeJobId}`, await tokenOf(page));
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'NOT_FOUND');
    await page.reload();
    await page.waitForSelector('.history-item');
    assert.equal(await page.locator(item).count(), 0, 'still gone after a reload');
    assert.ok(await page.locator(`.history-item a[href="${resultHash}"]`).count() === 1, 'the other jobs stay');
  });
});
