// The real `beatsync` command (bin/beatsync.js under the project's Node 24) on tiny generated media:
// a successful analyze and sync, and every input error with its exit code and JSON error.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { danceVideo, decodeMono48k, RATE, recordingFromSong, writeWav } from './helpers/av-check.ts';
import { fixtureDir, makeAudio, makeVideo, songExcerpt } from './helpers/media.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules/.bin/node');
const BIN = join(ROOT, 'bin/beatsync.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Preloaded with --import: appends the URL of every module the child loads (ESM and CommonJS) to $RECORD_MODULES.
const RECORDER = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) { appendFileSync(process.env.RECORD_MODULES, url + '\\n'); return next(url, context); } });
`)}`;
const HEAVY = ['fastify', '@aws-sdk', 'bullmq', 'ioredis', 'pino', 'prom-client'];

function beatsync(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [...nodeArgs, BIN, ...args], { cwd: ROOT, env: { ...process.env, LANG: 'en_US.UTF-8', LC_ALL: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function jsonOf(run: Run): { error?: { code: string; message: string } } & Record<string, unknown> {
  const lines = run.stdout.trim().split('\n');
  return JSON.parse(lines.at(-1) ?? '{}');
}

const SPEED = 0.9998;
const OFFSET = 3.0 - SPEED * 1.2;

let work: string;
let dance: string;
let bgm: string;
/** A song whose first 7 s play twice, exactly, and a recording of the repeated part: two places fit. */
let repeatedBgm: string;
let ambiguousDance: string;
/** The song danced twice in one video (6.5 s, then from the top again). */
let twiceDance: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'beatsync-cli-'));
  bgm = await songExcerpt('cli-bgm.m4a', 'nexuiz-ninesix.ogg', 60, 9, 'm4a');
  const song = await decodeMono48k(bgm);
  dance = await danceVideo('cli-dance.mp4', recordingFromSong(song, { seconds: 6, offset: OFFSET, speed: SPEED, musicFrom: 1.2, musicTo: 6 }));

  const part = song.subarray(0, 7 * RATE);
  const repeated = new Float32Array(part.length * 2);
  repeated.set(part);
  repeated.set(part, part.length);
  repeatedBgm = await writeWav(join(fixtureDir(), 'cli-repeated-bgm.wav'), repeated);
  ambiguousDance = await danceVideo('cli-ambiguous.mp4', recordingFromSong(repeated, { seconds: 6, offset: 6.5, speed: 1, musicFrom: 1, musicTo: 6 }));
  const first = recordingFromSong(song, { seconds: 7, offset: 1, speed: 1, musicFrom: 0.5, musicTo: 7, seed: 1 });
  const second = recordingFromSong(song, { seconds: 7.5, offset: 0.5, speed: 1, musicFrom: 0.5, musicTo: 7.5, seed: 2 });
  const twice = new Float32Array(first.length + second.length);
  twice.set(first);
  twice.set(second, first.length);
  twiceDance = await danceVideo('cli-twice.mp4', twice);
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('beatsync CLI', () => {
  test('--help and --version', async () => {
    const help = await beatsync(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /beatsync sync <dance-video> <music> -o <dir>/);
    assert.match(help.stdout, /beatsync analyze/);
    const version = await beatsync(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^beatsync \d+\.\d+\.\d+ \(engine \S+\)\n$/);
  });

  test('analyze --json prints the alignment and exits 0', async () => {
    const run = await beatsync(['analyze', dance, bgm, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const a = JSON.parse(run.stdout) as { offsetSeconds: number; speed: number; matched: boolean; confidence: number; musicStart: number; musicEnd: number };
    assert.equal(a.matched, true);
    // Song time in the middle of the music matches the truth within 1 ms.
    const mid = 3.6;
    assert.ok(Math.abs(a.offsetSeconds + a.speed * mid - (OFFSET + SPEED * mid)) < 0.001, `offset ${a.offsetSeconds}, speed ${a.speed}`);
    assert.ok(a.confidence > 0 && a.confidence <= 1);
    assert.ok(a.musicStart < a.musicEnd);
  });

  test('sync --json: progress lines, then the result; files in -o', async () => {
    const out = join(work, 'sync-json');
    const run = await beatsync(['sync', dance, bgm, '-o', out, '--variant', 'trimmed', '--nudge-ms', '5', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; percent?: number; variants?: Array<{ file: string }>; report?: { nudgeMs: number } });
    const progress = lines.filter((l) => l.type === 'progress');
    assert.ok(progress.length >= 4);
    assert.equal(progress.at(-1)?.percent, 100);
    const result = lines.at(-1)!;
    assert.equal(result.type, 'result');
    assert.deepEqual(result.variants?.map((v) => v.file), ['trimmed.mp4']);
    assert.equal(result.report?.nudgeMs, 5);
    assert.deepEqual((await readdir(out)).sort(), ['report.json', 'trimmed.mp4']);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as { variants: unknown[] };
    assert.equal(report.variants.length, 1);
  });

  test('sync runs in a process with the render malloc settings; a Ctrl-C sent to the command still cancels it', async () => {
    // Preloaded into every process of the command: appends its pid and malloc threshold when it starts.
    const record = join(work, 'malloc-record.txt');
    const preload = `data:text/javascript,${encodeURIComponent(`import { appendFileSync } from 'node:fs'; appendFileSync(${JSON.stringify(record)}, process.pid + ' ' + (process.env.MALLOC_MMAP_THRESHOLD_ ?? 'unset') + '\\n');`)}`;
    const out = join(work, 'sync-malloc');
    const done = await beatsync(['sync', dance, bgm, '-o', out, '--variant', 'trimmed', '--json'], { MALLOC_MMAP_THRESHOLD_: '' }, ['--import', preload]);
    assert.equal(done.code, 0, done.stderr);
    const starts = (await readFile(record, 'utf8')).trim().split('\n').map((l) => l.split(' ')[1]);
    assert.deepEqual(starts, ['', String(128 * 1024)], 'the command, then the sync it starts again with the settings');
    const result = jsonOf(done) as { variants?: Array<{ file: string }> };
    assert.deepEqual(result.variants?.map((v) => v.file), ['trimmed.mp4']);

    const cancelled = join(work, 'sync-interrupted');
    const child = spawn(NODE, [BIN, 'sync', dance, bgm, '-o', cancelled, '--variant', 'trimmed,full', '--json'], { cwd: ROOT, env: { ...process.env, LANG: 'en_US.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      // Interrupted once the render has begun (ffmpeg running): the command's own pid gets the signal.
      if (/"stage":"render"/.test(stdout) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    const last = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { error?: { code: string } };
    assert.equal(last.error?.code, 'CANCELLED', stdout.slice(-500));
    assert.notEqual(code, 0);
    assert.deepEqual((await readdir(cancelled).catch(() => [])).filter((f) => f.endsWith('.mp4') || f.endsWith('.part')), [], 'nothing half-written is left');
  });

  test('sync --variant compact --compact-long-side 1920: the phone-size video, with the job option\'s choices', async () => {
    const out = join(work, 'sync-compact');
    const run = await beatsync(['sync', dance, bgm, '-o', out, '--variant', 'compact', '--compact-long-side', '1920', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { type: string; variants: Array<{ variant: string; file: string; width?: number; height?: number }> };
    assert.equal(result.type, 'result');
    assert.deepEqual(result.variants.map((v) => v.file), ['compact.mp4']);
    assert.deepEqual((await readdir(out)).sort(), ['compact.mp4', 'report.json']);
    const [compact] = result.variants;
    assert.ok(Math.max(compact.width ?? Infinity, compact.height ?? Infinity) <= 1920);
    for (const bad of ['1000', 'big']) {
      const refused = await beatsync(['sync', dance, bgm, '-o', join(work, 'sync-compact-bad'), '--variant', 'compact', '--compact-long-side', bad, '--json']);
      assert.equal(refused.code, 2, bad);
      assert.equal(jsonOf(refused).error?.code, 'BAD_REQUEST', bad);
    }
  });

  test('sync without --json: plain progress lines on stderr (not a terminal), paths on stdout', async () => {
    const out = join(work, 'sync-text');
    const run = await beatsync(['sync', dance, bgm, '-o', out]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^\d+% probe: /m);
    assert.match(run.stderr, /^100% finish: /m);
    assert.doesNotMatch(run.stderr, /\r/);
    assert.match(run.stdout, /trimmed\.mp4/);
    assert.match(run.stdout, /full\.mp4/);
  });

  test('analyze for people: the figures and the confidence in words; no server module loads', async () => {
    const modules = join(work, 'analyze-modules.txt');
    const run = await beatsync(['analyze', dance, bgm], { RECORD_MODULES: modules }, ['--import', RECORDER]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Offset: -?\d+\.\d{6} s \(song time at the start of the video\)\n/);
    assert.match(run.stdout, /\nConfidence: \d+% \((sure|found, but listen to check it)\)\n/);
    assert.doesNotMatch(run.stdout, /Ambiguous|run-throughs|Dropped/);
    const loaded = (await readFile(modules, 'utf8')).split('\n');
    assert.ok(loaded.some((m) => m.endsWith('/src/pipeline/analyze.ts')));
    assert.deepEqual(loaded.filter((url) => HEAVY.some((name) => url.includes(`/node_modules/${name}/`))), []);
  });

  test('an exactly repeated section: analyze says both places, --json carries them', async () => {
    const text = await beatsync(['analyze', ambiguousDance, repeatedBgm]);
    assert.equal(text.code, 0, text.stderr);
    const places = /Ambiguous: two places in the song fit equally well: the video starts at song time (-?\d+\.\d{3}) s and (-?\d+\.\d{3}) s\./.exec(text.stdout);
    assert.ok(places, text.stdout);
    // The two readings are the repeat's length (7 s) apart.
    assert.ok(Math.abs(Math.abs(Number(places[1]) - Number(places[2])) - 7) < 0.01, text.stdout);
    const json = await beatsync(['analyze', ambiguousDance, repeatedBgm, '--json']);
    const a = JSON.parse(json.stdout) as { ambiguous: boolean; alternate: { offsetSeconds: number } | null; candidates: { offsetSeconds: number; score: number }[]; segments: unknown[] };
    assert.equal(a.ambiguous, true);
    assert.ok(a.alternate);
    assert.equal(a.segments.length, 1);
    assert.ok(Math.abs(a.alternate.offsetSeconds - Number(places[2])) < 0.001);
  });

  test('an ambiguous sync: the summary says so and the alternate is made', async () => {
    const out = join(work, 'sync-ambiguous');
    const run = await beatsync(['sync', ambiguousDance, repeatedBgm, '-o', out, '--variant', 'trimmed'], { LANG: 'zh_CN.UTF-8' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /alternate\.mp4/);
    assert.match(run.stdout, /置信度 \d+%/);
    assert.match(run.stdout, /无法确定：歌曲中有 2 个位置同样吻合/);
  });

  test('two run-throughs: analyze lists both, --json carries the segments', async () => {
    const text = await beatsync(['analyze', twiceDance, bgm]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /\n2 run-throughs \(the music starts again\):\n {2}1\. video 0\.\d+–6\.\d+ s = song 1\.\d+–7\.\d+ s, confidence \d+%\n {2}2\. video 7\.\d+–14\.\d+ s = song 0\.\d+–8\.\d+ s, confidence \d+% \(the longest: the figures above\)\n/);
    const json = await beatsync(['analyze', twiceDance, bgm, '--json']);
    const a = JSON.parse(json.stdout) as { segments: { danceStart: number; offsetSeconds: number }[]; alternate: unknown };
    assert.equal(a.segments.length, 2);
    assert.ok(Math.abs(a.segments[0].offsetSeconds - 1) < 0.005 && Math.abs(a.segments[1].offsetSeconds - (0.5 - 7)) < 0.005, json.stdout);
    assert.equal(a.alternate, null);
  });

  describe('errors: exit 2 (3 for a different song) with a JSON error', { concurrency: 2 }, () => {
    const cases: Array<{ name: string; files: () => Promise<[string, string]>; code: string; exit?: number }> = [
      { name: 'missing file', files: async () => [join(work, 'nope.mp4'), bgm], code: 'FILE_NOT_FOUND' },
      {
        name: 'not media (text named .mp4)',
        files: async () => {
          const p = join(work, 'notes.mp4');
          await writeFile(p, 'these are my dance notes, not a video\n'.repeat(50));
          return [p, bgm];
        },
        code: 'INVALID_FORMAT',
      },
      { name: 'dance file without audio', files: async () => [await makeVideo('cli-silent.mp4', { seconds: 2, audio: false }), bgm], code: 'NO_AUDIO_TRACK' },
      { name: 'dance file without video', files: async () => [await makeAudio('cli-audio-only.m4a', { format: 'm4a', seconds: 2, source: 'noise' }), bgm], code: 'NO_VIDEO_TRACK' },
      { name: 'BGM without audio', files: async () => [dance, await makeVideo('cli-silent.mp4', { seconds: 2, audio: false })], code: 'NO_AUDIO_TRACK' },
      {
        name: 'corrupt (truncated) file',
        files: async () => {
          const p = join(work, 'truncated.mp4');
          await copyFile(dance, p);
          await truncate(p, 20_000);
          return [p, bgm];
        },
        code: 'INVALID_FORMAT',
      },
      {
        name: 'disguised playlist (HLS named .mp4)',
        files: async () => {
          const p = join(work, 'playlist.mp4');
          await writeFile(p, `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://${dance}\n#EXT-X-ENDLIST\n`);
          return [p, bgm];
        },
        code: 'INVALID_FORMAT',
      },
      {
        name: 'disguised playlist (ffconcat named .mp3) as BGM',
        files: async () => {
          const p = join(work, 'concat.mp3');
          await writeFile(p, `ffconcat version 1.0\nfile '${bgm}'\n`);
          return [dance, p];
        },
        code: 'INVALID_FORMAT',
      },
      { name: 'a different song', files: async () => [dance, await songExcerpt('cli-other.wav', 'nexuiz-stairs.ogg', 40, 9)], code: 'NO_MATCH', exit: 3 },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        const [d, b] = await c.files();
        const run = await beatsync(['analyze', d, b, '--json']);
        assert.equal(run.code, c.exit ?? 2, run.stdout + run.stderr);
        const body = jsonOf(run);
        assert.equal(body.error?.code, c.code, run.stdout);
        assert.ok((body.error?.message ?? '').length > 10);
      });
    }
  });

  test('human errors on stderr, in Chinese when LANG is zh', async () => {
    const run = await beatsync(['analyze', join(work, 'nope.mp4'), bgm], { LANG: 'zh_CN.UTF-8' });
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /找不到该文件/);
    assert.match(run.stderr, /FILE_NOT_FOUND/);
  });

  test('usage mistakes: exit 2, BAD_REQUEST', async () => {
    for (const args of [['sync', dance, bgm, '--json'], ['sync', dance, bgm, '-o', work, '--variant', 'best', '--json'], ['analyze', dance, '--json'], ['dance', '--json']]) {
      const run = await beatsync(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.equal(jsonOf(run).error?.code, 'BAD_REQUEST', args.join(' '));
    }
  });
});
