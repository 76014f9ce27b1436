// Media for the HTTP API tests: a real song excerpt (the BGM) and a tiny phone-like video whose sound is a
// later, band-limited, echoing, noisier copy of it — and a measure of how well an output is in sync.
import { join } from 'node:path';
import { decodeAudio, inputArgs, probeMedia, runFfmpeg } from '../../src/media/index.ts';
import { fixtureDir, MUSIC_DIR, songExcerpt } from './media.ts';

export interface ApiSyncPair {
  dance: string;
  bgm: string;
  /** Ground truth: BGM time (s) at dance time 0. */
  offsetSeconds: number;
}

export interface ApiSyncPairSpec {
  song?: string;
  /** Where the BGM excerpt starts in the song. */
  songStart?: number;
  bgmSeconds?: number;
  /** The recording starts this far into the BGM excerpt. */
  offsetSeconds?: number;
  danceSeconds?: number;
  /** File name stem inside the fixture dir. */
  name?: string;
}

const made = new Map<string, Promise<ApiSyncPair>>();

export function makeApiSyncPair(spec: ApiSyncPairSpec = {}): Promise<ApiSyncPair> {
  const key = JSON.stringify(spec);
  let pair = made.get(key);
  if (!pair) {
    pair = generate(spec);
    made.set(key, pair);
  }
  return pair;
}

async function generate(spec: ApiSyncPairSpec): Promise<ApiSyncPair> {
  const song = spec.song ?? 'nexuiz-brokenlight.ogg';
  const songStart = spec.songStart ?? 40;
  const offset = spec.offsetSeconds ?? 2.5;
  const danceSeconds = spec.danceSeconds ?? 6;
  const name = spec.name ?? 'api-sync';
  const bgm = await songExcerpt(`${name}-bgm.wav`, song, songStart, spec.bgmSeconds ?? 12);
  const dance = join(fixtureDir(), `${name}-dance.mp4`);
  await runFfmpeg([
    '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=160x120:rate=30:duration=${danceSeconds}`,
    ...inputArgs(join(MUSIC_DIR, song), { startSeconds: songStart + offset, durationSeconds: danceSeconds }),
    '-f', 'lavfi', '-i', `anoisesrc=color=pink:seed=11:amplitude=0.08:sample_rate=44100:duration=${danceSeconds}`,
    // A phone in a room: band-limited, a little echo, noise on top.
    '-filter_complex', '[1:a]aresample=44100,highpass=f=200,lowpass=f=3500,aecho=0.8:0.5:40:0.3,volume=0.7[m];[m][2:a]amix=inputs=2:duration=first:normalize=0[a]',
    '-map', '0:v', '-map', '[a]',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '30',
    '-c:a', 'aac', '-b:a', '96k', '-ac', '1',
    '-t', String(danceSeconds), dance,
  ]);
  return { dance, bgm, offsetSeconds: offset };
}

export interface SyncMeasurement {
  /** Output time (s, from the first video frame) where the measurement window starts. */
  atSeconds: number;
  /** BGM time the reported alignment says the window should hold. */
  expectedBgmSeconds: number;
  /** Where the window really is in the BGM, by cross-correlation. */
  foundBgmSeconds: number;
  errorMs: number;
  /** Normalised correlation at the peak (close to 1 for a clean copy). */
  peak: number;
}

/**
 * Decodes half a second of the output's sound and finds it in the BGM by normalised cross-correlation
 * within ±searchMs of where `bgmTimeAt(danceTime)` says it must be.
 */
export async function measureSync(
  output: string,
  bgm: string,
  opts: { danceStart: number; bgmTimeAt: (danceSeconds: number) => number; atSeconds?: number; searchMs?: number },
): Promise<SyncMeasurement> {
  const rate = 48_000;
  const info = await probeMedia(output);
  const video = info.video[0];
  const audio = info.audio[0];
  if (!video || !audio) throw new Error('the output needs a video and an audio stream');
  // Audio sample 0 plays at audio.startTime; the first frame (dance time danceStart) at video.startTime.
  const lead = audio.startTime - video.startTime;
  const at = opts.atSeconds ?? Math.max(0.5, info.durationSeconds / 2 - 0.25);
  const windowSeconds = 0.5;
  const search = (opts.searchMs ?? 60) / 1000;
  const expected = opts.bgmTimeAt(opts.danceStart + at);
  const out = await decodeAudio(output, { sampleRate: rate, startSeconds: at - lead, durationSeconds: windowSeconds });
  const from = expected - search;
  const ref = await decodeAudio(bgm, { sampleRate: rate, startSeconds: from, durationSeconds: windowSeconds + 2 * search });
  const n = Math.min(out.length, Math.round(windowSeconds * rate));
  let outEnergy = 0;
  for (let i = 0; i < n; i++) outEnergy += out[i] * out[i];
  let best = -Infinity;
  let bestLag = 0;
  for (let lag = 0; lag + n <= ref.length; lag++) {
    let dot = 0;
    let refEnergy = 0;
    for (let i = 0; i < n; i++) {
      const r = ref[lag + i];
      dot += out[i] * r;
      refEnergy += r * r;
    }
    const score = dot / Math.sqrt(outEnergy * refEnergy + 1e-20);
    if (score > best) {
      best = score;
      bestLag = lag;
    }
  }
  const found = from + bestLag / rate;
  return { atSeconds: at, expectedBgmSeconds: expected, foundBgmSeconds: found, errorMs: (found - expected) * 1000, peak: best };
}
