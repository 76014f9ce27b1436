// The renderer's cut plan reads windows of one whole-stream packet listing (packetWindow) instead of an ffprobe
// per window: on real files with B-frames, each window must be what ffprobe's -read_intervals lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { listVideoPackets, runFfmpeg } from '../src/media/index.ts';
import { packetWindow } from '../src/pipeline/plan.ts';
import { fixtureDir } from './helpers/media.ts';

for (const [name, codec] of [['H.264, B-frames, 2 s GOP', ['-c:v', 'libx264', '-bf', '3', '-g', '48']], ['H.264, no B-frames, 1 s GOP', ['-c:v', 'libx264', '-bf', '0', '-g', '24']]] as const) {
  test(`packetWindow gives ffprobe's -read_intervals windows (${name})`, async () => {
    const file = join(fixtureDir(), `packets-${codec[3]}-${codec[5]}.mp4`);
    await runFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=24:duration=12', ...codec, '-pix_fmt', 'yuv420p', '-f', 'mp4', '-y', file]);
    const all = await listVideoPackets(file);
    assert.ok(all.length >= 280);
    const windows: Array<[number | undefined, number]> = [[undefined, 1], [3.3, 4.3], [5.0, 6.0], [7.9, 10.9], [10.5, 11.5], [0, 1]];
    for (const [from, to] of windows) {
      const probed = await listVideoPackets(file, { fromSeconds: from, toSeconds: to });
      assert.deepEqual(packetWindow(all, from, to), probed, `window ${from}–${to}`);
    }
  });
}
