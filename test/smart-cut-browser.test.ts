// A smart-cut H.264 clip (avc3, the source's parameter sets in band after the re-encoded head) plays in
// Chromium from start to end: every frame decoded, no media error at the seam. (Chromium here has no HEVC
// decoder, so the hev1 case is checked by ffmpeg alone in test/smart-cut.test.ts.)
import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareSmartCut, runFfmpeg } from '../src/media/index.ts';
import { launchChromium } from './helpers/web.ts';

const FPS = 30;
const CUT_FRAME = 37;
const SECONDS = 6;

let work: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'beatsync-smartcut-web-'));
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('Chromium plays a smart-cut clip through the seam, every frame decoded', async () => {
  const src = join(work, 'src.mp4');
  await runFfmpeg(['-y', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${FPS}:duration=${SECONDS}`,
    '-c:v', 'libx264', '-preset', 'veryfast', '-g', '90', '-keyint_min', '90', '-sc_threshold', '0', '-bf', '3', '-pix_fmt', 'yuv420p', src]);
  const smart = await prepareSmartCut({ path: src, streamIndex: 0, startMedia: CUT_FRAME / FPS + 0.01, endMedia: SECONDS, outpointMedia: null, keptEndMedia: SECONDS, workDir: work });
  assert.ok(smart.applied);
  const out = join(work, 'out.mp4');
  await runFfmpeg([...smart.inputArgs, '-map', '0:v:0', '-c', 'copy', '-tag:v', smart.codecTag, '-movflags', '+faststart', '-f', 'mp4', '-y', out]);
  const bytes = await readFile(out);

  const server = createServer((req, res) => {
    if (req.url === '/clip.mp4') {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': bytes.length });
      res.end(bytes);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><video id="v" src="/clip.mp4" muted playsinline></video>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const result = await page.evaluate(() => new Promise<{ ended: boolean; error: string | null; decoded: number; width: number }>((resolve) => {
      const v = document.getElementById('v') as HTMLVideoElement;
      const done = (ended: boolean) => resolve({ ended, error: v.error ? `${v.error.code} ${v.error.message}` : null, decoded: v.getVideoPlaybackQuality().totalVideoFrames, width: v.videoWidth });
      v.onended = () => done(true);
      v.onerror = () => done(false);
      v.playbackRate = 4;
      v.play().catch(() => done(false));
    }));
    assert.equal(result.error, null);
    assert.ok(result.ended, 'played to the end');
    assert.equal(result.width, 320);
    assert.equal(result.decoded, SECONDS * FPS - CUT_FRAME, 'every frame decoded, across the seam');
  } finally {
    await browser.close();
    server.close();
  }
});
