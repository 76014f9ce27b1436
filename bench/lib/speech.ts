// Talking, counting, shouting and crowd babble for the corpus, spoken by espeak-ng (English and Mandarin) and cached.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { addInto } from './dsp.ts';
import { decodeMono, runTool } from './proc.ts';

interface Utterance {
  voice: 'en-us' | 'cmn';
  text: string;
}

const TEACHER: Utterance[] = [
  { voice: 'en-us', text: 'Okay everyone, find your spot and face the mirror.' },
  { voice: 'en-us', text: 'We start from the top, remember the arms on the second eight.' },
  { voice: 'en-us', text: 'Back row, move a little to the left please. A little more. Good.' },
  { voice: 'en-us', text: 'Is the camera recording? Can someone check the phone?' },
  { voice: 'en-us', text: 'Let us do it full out this time, big energy, and smile!' },
  { voice: 'en-us', text: 'Wait, wait, where is the music? Hold on one second.' },
  { voice: 'cmn', text: '好，大家站好位置，看着镜子。' },
  { voice: 'cmn', text: '我们从头开始，注意第二个八拍的手。' },
  { voice: 'cmn', text: '后排往左边一点，再一点，好的。' },
  { voice: 'cmn', text: '手机在录吗？谁帮我看一下。' },
];

const COUNTING: Utterance[] = [
  { voice: 'en-us', text: 'Five, six, seven, eight!' },
  { voice: 'en-us', text: 'One, two, three, four, five, six, seven, eight.' },
  { voice: 'en-us', text: 'And turn! Arms up!' },
  { voice: 'en-us', text: 'Again! Bigger!' },
  { voice: 'en-us', text: 'Yes! Good job!' },
  { voice: 'cmn', text: '五，六，七，八！' },
  { voice: 'cmn', text: '一，二，三，四，五，六，七，八。' },
  { voice: 'cmn', text: '好！再来一次！' },
];

const PITCHES = [25, 45, 65, 85];
const SPEEDS = [150, 175, 200];

export type Pool = Float32Array[];

/** Speaks every line in a few voices (pitch × speed), caching the WAVs in `cacheDir`; returns PCM at `rate`. */
async function speakAll(lines: Utterance[], variants: number, cacheDir: string, rate: number): Promise<Pool> {
  const dir = join(cacheDir, 'speech');
  await mkdir(dir, { recursive: true });
  const out: Pool = [];
  for (const [i, line] of lines.entries()) {
    for (let v = 0; v < variants; v++) {
      const pitch = PITCHES[(i + v) % PITCHES.length];
      const speed = SPEEDS[(i + 2 * v) % SPEEDS.length];
      const key = createHash('sha1').update(`${line.voice}|${pitch}|${speed}|${line.text}`).digest('hex').slice(0, 12);
      const wav = join(dir, `${key}.wav`);
      if (!existsSync(wav)) {
        await runTool('espeak-ng', ['-v', line.voice, '-p', String(pitch), '-s', String(speed), '-a', '180', '-w', wav, '--', line.text]);
      }
      out.push((await decodeMono(wav, rate)).pcm);
    }
  }
  return out;
}

export interface SpeechPools {
  teacher: Pool;
  counting: Pool;
}

const poolCache = new Map<string, Promise<SpeechPools>>();

export function speechPools(cacheDir: string, rate: number): Promise<SpeechPools> {
  const key = `${cacheDir}|${rate}`;
  let p = poolCache.get(key);
  if (!p) {
    p = (async () => ({ teacher: await speakAll(TEACHER, 2, cacheDir, rate), counting: await speakAll(COUNTING, 3, cacheDir, rate) }))();
    poolCache.set(key, p);
  }
  return p;
}

/**
 * Places utterances one after another in [fromSeconds, toSeconds) with random pauses; an utterance that would
 * run past the end is cut there (people get interrupted by the music too).
 */
export function speakInto(track: Float32Array, rate: number, pool: Pool, rng: () => number, fromSeconds: number, toSeconds: number, pause: [number, number], gain = 1): void {
  let t = fromSeconds + rng() * pause[0];
  const end = Math.min(track.length, Math.round(toSeconds * rate));
  while (t < toSeconds - 0.3) {
    const u = pool[Math.floor(rng() * pool.length)];
    const at = Math.round(t * rate);
    const len = Math.min(u.length, end - at);
    if (len <= 0) break;
    addInto(track, u.subarray(0, len), at, gain * (0.7 + 0.3 * rng()));
    t += u.length / rate + pause[0] + rng() * (pause[1] - pause[0]);
  }
}

/** A room full of people chatting: several independent talkers over the whole recording. */
export function babbleInto(track: Float32Array, rate: number, pools: SpeechPools, rng: () => number, talkers = 6): void {
  const all = [...pools.teacher, ...pools.counting];
  const seconds = track.length / rate;
  for (let k = 0; k < talkers; k++) speakInto(track, rate, all, rng, rng() * 2, seconds, [0.2, 1.5], 0.4 + 0.6 * rng());
}
