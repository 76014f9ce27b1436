// Hostile and broken inputs: each is refused with a clear code, and playlists never make ffmpeg read what they point to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, stat, truncate, utimes, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { inputArgs, probeMedia, runFfmpeg, runFfprobe } from '../src/media/index.ts';
import { fixtureDir, makeAudio, makeVideo } from './helpers/media.ts';

const refused = (detail: RegExp) => (e: unknown) => {
  const err = e as { code?: string; detail?: string };
  assert.equal(err.code, 'INVALID_FORMAT', `code ${err.code}: ${err.detail}`);
  assert.match(err.detail ?? '', detail);
  return true;
};

async function place(name: string, content: string | Buffer): Promise<string> {
  const dir = join(fixtureDir(), 'hostile');
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

test('zero bytes', async () => {
  await assert.rejects(probeMedia(await place('empty.mp4', '')), refused(/empty/));
});

test('text named .mp4', async () => {
  await assert.rejects(probeMedia(await place('notes.mp4', 'Hello teacher,\nhere is the class video.\n')), refused(/text/));
});

test('random bytes and an image named .mp4', async () => {
  await assert.rejects(probeMedia(await place('noise.mp4', randomBytes(64 * 1024))), (e: unknown) => (e as { code?: string }).code === 'INVALID_FORMAT');
  const png = join(fixtureDir(), 'hostile', 'picture.mp4');
  await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:duration=0.04', '-frames:v', '1', '-c:v', 'png', '-f', 'image2', png]);
  await assert.rejects(probeMedia(png), refused(/not an accepted/));
});

test('a directory', async () => {
  await mkdir(join(fixtureDir(), 'hostile', 'dir.mp4'), { recursive: true });
  await assert.rejects(probeMedia(join(fixtureDir(), 'hostile', 'dir.mp4')), refused(/directory/));
});

test('truncated mp4: moov at the end lost, and moov first with media data cut', async () => {
  const plain = await makeVideo('trunc-src.mp4', { seconds: 2 });
  const cut = join(fixtureDir(), 'hostile', 'cut.mp4');
  await copyFile(plain, cut);
  await truncate(cut, Math.floor((await stat(plain)).size / 2));
  await assert.rejects(probeMedia(cut), refused(/moov atom not found/));

  const fast = join(fixtureDir(), 'hostile', 'faststart.mp4');
  await runFfmpeg(['-y', ...inputArgs(plain), '-c', 'copy', '-movflags', '+faststart', fast]);
  await probeMedia(fast); // whole: fine
  await truncate(fast, Math.floor((await stat(fast)).size / 2));
  await assert.rejects(probeMedia(fast), refused(/truncated/));
});

test('hundreds of streams', async () => {
  const out = join(fixtureDir(), 'hostile', 'streams.mkv');
  const maps = Array.from({ length: 200 }, () => ['-map', '0:a']).flat();
  await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'sine=duration=0.2', ...maps, '-c:a', 'pcm_s16le', out]);
  await assert.rejects(probeMedia(out), refused(/200 streams/));
});

test('absurd dimensions: a real 8200 px wide video, and a header claiming 30000×30000', async () => {
  const wide = join(fixtureDir(), 'hostile', 'wide.mp4');
  await runFfmpeg(['-y', '-f', 'lavfi', '-i', 'testsrc2=size=8200x64:rate=5:duration=0.4', '-c:v', 'libx264', '-preset', 'ultrafast', wide]);
  await assert.rejects(probeMedia(wide), refused(/8200×64 is larger than 8192/));

  // Matroska stores PixelWidth (0xB0) and PixelHeight (0xBA) as plain integers: 256 → 30000.
  const small = await makeVideo('square.mkv', { container: 'mkv', width: 256, height: 256, seconds: 0.4, audio: false });
  const bytes = await readFile(small);
  for (const id of [0xb0, 0xba]) {
    const at = bytes.indexOf(Buffer.from([id, 0x82, 0x01, 0x00]));
    assert.ok(at >= 0, `element ${id.toString(16)} not found`);
    bytes.writeUInt16BE(30000, at + 2);
  }
  await assert.rejects(probeMedia(await place('huge.mkv', bytes)), refused(/30000x30000/));
});

test('duration over the limit is left to checkDanceInput, zero duration is refused here', async () => {
  const info = await probeMedia(await makeAudio('long-enough.wav', { format: 'wav', seconds: 0.5 }));
  assert.ok(info.durationSeconds > 0.4);
  const header = Buffer.from((await readFile(await makeAudio('long-enough.wav', { format: 'wav', seconds: 0.5 }))).subarray(0, 44));
  header.writeUInt32LE(36, 4);
  header.writeUInt32LE(0, 40); // data chunk of 0 bytes
  await assert.rejects(probeMedia(await place('no-samples.wav', header)), (e: unknown) => (e as { code?: string }).code === 'INVALID_FORMAT');
});

/** A secret whose read we can see: atime set before mtime, so any read updates it (relatime). */
async function secretFile(name: string): Promise<{ path: string; wasRead: () => Promise<boolean> }> {
  const path = join(fixtureDir(), 'hostile', name);
  await copyFile(await makeVideo('secret-src.mp4', { seconds: 0.5 }), path);
  const oldAtime = new Date('2001-09-09T01:46:40Z');
  await utimes(path, oldAtime, new Date());
  assert.equal((await stat(path)).atimeMs, oldAtime.getTime());
  return { path, wasRead: async () => (await stat(path)).atimeMs !== oldAtime.getTime() };
}

async function loopbackServer() {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { hits, base: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const playlists = {
  hls: (target: string) => `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n${target}\n#EXT-X-ENDLIST\n`,
  ffconcat: (target: string) => `ffconcat version 1.0\nfile ${target}\n`,
};
const probeArgs = ['-show_entries', 'format=format_name', '-of', 'compact'];

for (const kind of ['hls', 'ffconcat'] as const) {
  test(`${kind} playlist named .mp4 pointing at a local secret is refused without reading it`, async () => {
    const secret = await secretFile(`secret-${kind}.ts`);
    const playlist = await place(`${kind}-local.mp4`, playlists[kind](`secret-${kind}.ts`));
    await assert.rejects(probeMedia(playlist), refused(/playlist/));
    // The demuxer allow-list alone (without the byte sniffing in probeMedia) refuses it too.
    await assert.rejects(runFfprobe([...probeArgs, ...inputArgs(playlist)]), refused(/not an accepted/));
    await assert.rejects(runFfmpeg([...inputArgs(playlist), '-f', 'null', '-']), refused(/not an accepted/));
    assert.equal(await secret.wasRead(), false, 'the secret was read');
    // Control: plain ffprobe on the same file does open the secret, so the check above can see a read.
    const { stdout } = await runFfprobe([...probeArgs, '-i', playlist]);
    assert.match(stdout, kind === 'hls' ? /hls/ : /concat/);
    assert.equal(await secret.wasRead(), true, 'control: the secret should have been read');
  });

  test(`${kind} playlist named .mp4 pointing at a URL makes no request`, async () => {
    const server = await loopbackServer();
    try {
      const playlist = await place(`${kind}-url.mp4`, playlists[kind](`${server.base}/${kind}.ts`));
      await assert.rejects(probeMedia(playlist), refused(/playlist/));
      await assert.rejects(runFfprobe([...probeArgs, ...inputArgs(playlist)]), refused(/not an accepted/));
      await assert.rejects(runFfmpeg([...inputArgs(playlist), '-f', 'null', '-']), refused(/not an accepted/));
      assert.deepEqual(server.hits, []);
      // Control: with network protocols allowed, ffprobe does call the server.
      await runFfprobe([...probeArgs, '-protocol_whitelist', 'file,http,tcp', '-safe', '0', '-i', playlist]).catch(() => {});
      assert.deepEqual(server.hits, [`/${kind}.ts`]);
    } finally {
      await server.close();
    }
  });
}

test('a playlist pointing at a FIFO never opens it (opening would block)', async () => {
  const dir = join(fixtureDir(), 'hostile');
  execFileSync('mkfifo', [join(dir, 'pipe.mp4')]);
  const playlist = await place('fifo-list.mp4', playlists.ffconcat('pipe.mp4'));
  await assert.rejects(probeMedia(playlist, { timeoutMs: 10_000 }), refused(/playlist/));
  await assert.rejects(runFfprobe([...probeArgs, ...inputArgs(playlist)], { timeoutMs: 10_000 }), refused(/not an accepted/));
  // Control: without the allow-list ffprobe opens the FIFO and blocks until its time limit.
  await assert.rejects(runFfprobe([...probeArgs, '-i', playlist], { timeoutMs: 1500 }), { code: 'TIMEOUT' });
});

test('SDP and other text descriptions are refused', async () => {
  const sdp = 'v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 96\n';
  await assert.rejects(probeMedia(await place('session.mp4', sdp)), refused(/playlist/));
  await assert.rejects(runFfprobe([...probeArgs, ...inputArgs(await place('session2.mp4', sdp))]), refused(/not an accepted/));
});

for (const [name, make] of [
  ['mkv', () => makeVideo('trunc-src.mkv', { container: 'mkv', seconds: 6 })],
  ['avi', () => makeVideo('trunc-src.avi', { container: 'avi', seconds: 6 })],
  ['wav', () => makeAudio('trunc-src.wav', { format: 'wav', seconds: 6 })],
  ['flac', () => makeAudio('trunc-src.flac', { format: 'flac', source: 'noise', seconds: 6 })],
] as const) {
  test(`truncated ${name}: the header promises more than the file holds`, async () => {
    const whole = await make();
    await probeMedia(whole); // whole: fine
    const cut = join(fixtureDir(), 'hostile', `cut.${name}`);
    await copyFile(whole, cut);
    await truncate(cut, Math.floor((await stat(whole)).size * 0.6));
    await assert.rejects(probeMedia(cut), refused(/truncated/));
  });
}
