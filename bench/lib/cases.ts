// What a corpus case is, its ground truth (derived analytically from the generation parameters), and the case lists.
import type { RoomSpec } from './dsp.ts';

export type BgmFormat = 'ogg' | 'm4a' | 'mp3' | 'mp3-96k-mono' | 'wav' | 'mp4-video' | 'mkv-video';
export type DanceContainer = 'mp4-h264' | 'mp4-h265' | 'mov-h264' | 'mov-h265';

/** A real room: a measured hall, or a physically modelled one (image-source early reflections + a diffuse tail). */
export interface HallSpec {
  kind: 'greathall' | 'modelled';
  /** Direct-to-reverberant energy ratio (dB); −8 = the direct sound 8 dB below the reverberation. */
  drrDb: number;
  /** Decay of the modelled room's tail (s to −60 dB); the measured hall has its own. */
  rt60?: number;
}

/** The music stopped and started again ("from the top"), or a second run-through in the same take. */
export interface RestartSpec {
  /** Seconds of talk between the two runs. */
  gapSeconds: number;
  /** BGM time where the second run starts. */
  bgmStart: number;
  musicSeconds: number;
}

export interface CaseSpec {
  id: string;
  /** Song heard in the recording (file name in the music folder). */
  song: string;
  /** Song given as BGM; different from `song` for a mismatch case. */
  bgmSong: string;
  bgmFormat: BgmFormat;
  container: DanceContainer;
  video: { width: number; height: number; fps: number };
  /** Sample rate of the recording's sound. */
  audioRate: number;
  /** BGM time (s) heard when the music starts in the recording (> 0: the recording starts mid-song). */
  bgmStart: number;
  /** Dance seconds before the music starts (talk, noise). */
  leadIn: number;
  /** Dance seconds of music; null = until the song ends. */
  musicSeconds: number | null;
  /** Seconds recorded after the music stops; 0 = the recording ends while the music plays. */
  tail: number;
  driftPpm: number;
  room: RoomSpec | null;
  noise: { color: 'pink' | 'brown'; snrDb: number } | null;
  crowd: { snrDb: number } | null;
  /** The teacher counting and shouting over the music. */
  counting: { snrDb: number } | null;
  /** The teacher talking before (and after) the music. */
  talk: boolean;
  /** Gain before the hard clip (dB), null = no clipping. */
  clipDb: number | null;
  /** Phone microphone band (Hz). */
  band: [number, number] | null;
  agc: 'compressor' | 'dynaudnorm' | null;
  seed: number;
  // Optional conditions (absent from older specs, so their cache hashes stay valid).
  hall?: HallSpec;
  restart?: RestartSpec;
  /** The teacher talking over the whole music, at this SNR. */
  talkOver?: { snrDb: number };
  /** Extra AAC 128 kb/s round trips of the recording's sound before the phone's own encode. */
  aacGenerations?: number;
  /** A mono phone recording. */
  monoPhone?: boolean;
  /** The BGM file was re-mastered (EQ, compression, louder) relative to what was played. */
  bgmRemaster?: boolean;
}

export interface Truth {
  offsetSeconds: number;
  speed: number;
  musicStart: number;
  musicEnd: number;
  /** Every run of music in dance order, when there is more than one (the fields above are the longest's). */
  segments?: Omit<Truth, 'segments'>[];
}

export interface Timeline {
  /** Truth against the dance song's own (ffmpeg-decoded) original file. */
  truth: Truth;
  durationSeconds: number;
}

/**
 * Ground truth from the parameters: the song from BGM time b0 plays from dance time L, read `speed` BGM seconds per
 * dance second, so BGM time = b0 + speed·(t − L) = (b0 − speed·L) + speed·t.
 */
export function timeline(spec: CaseSpec, songSeconds: number): Timeline {
  const speed = 1 + spec.driftPpm * 1e-6;
  const run = (bgmStart: number, start: number, seconds: number | null): Omit<Truth, 'segments'> => {
    const available = (songSeconds - bgmStart) / speed;
    if (available <= 1) throw new Error(`${spec.id}: bgmStart ${bgmStart} s is past the song's end (${songSeconds} s)`);
    const music = seconds === null ? available : Math.min(seconds, available);
    return { offsetSeconds: bgmStart - speed * start, speed, musicStart: start, musicEnd: start + music };
  };
  const first = run(spec.bgmStart, spec.leadIn, spec.musicSeconds);
  if (!spec.restart) return { truth: first, durationSeconds: first.musicEnd + spec.tail };
  const second = run(spec.restart.bgmStart, first.musicEnd + spec.restart.gapSeconds, spec.restart.musicSeconds);
  const longest = second.musicEnd - second.musicStart > first.musicEnd - first.musicStart ? second : first;
  return { truth: { ...longest, segments: [first, second] }, durationSeconds: second.musicEnd + spec.tail };
}

/** The runs of music of a truth, in dance order. */
export function runsOf(truth: Truth): Omit<Truth, 'segments'>[] {
  return truth.segments ?? [truth];
}

/** Combined SNR of independent interferers: powers add. */
export function combinedSnrDb(snrs: number[]): number | null {
  if (!snrs.length) return null;
  return -10 * Math.log10(snrs.reduce((s, x) => s + 10 ** (-x / 10), 0));
}

export function conditionsOf(spec: CaseSpec, songSeconds: number): string[] {
  const c: string[] = [];
  const { truth } = timeline(spec, songSeconds);
  if (spec.song !== spec.bgmSong) c.push('mismatch');
  if (spec.leadIn > 0) c.push(spec.talk ? `talk-before-${spec.leadIn}s` : `lead-in-${spec.leadIn}s`);
  if (spec.bgmStart > 0) c.push('mid-song-start');
  const last = runsOf(truth).at(-1) ?? truth;
  const songLeft = (songSeconds - (spec.restart?.bgmStart ?? spec.bgmStart)) / truth.speed;
  if (last.musicEnd - last.musicStart < songLeft - 0.01) c.push(spec.tail > 0 ? 'music-stops-early' : 'recording-ends-before-song');
  else if (spec.tail > 0 && spec.musicSeconds === null && !spec.restart) c.push('recording-longer-than-song');
  if (spec.tail > 0) c.push(`tail-${spec.tail}s`);
  if (spec.restart) c.push(spec.restart.bgmStart === spec.bgmStart ? `restart-from-top-after-${spec.restart.gapSeconds}s` : `second-run-after-${spec.restart.gapSeconds}s`);
  const music = truth.musicEnd - truth.musicStart;
  if (music <= 30) c.push('short-clip');
  if (spec.musicSeconds === null && spec.bgmStart === 0) c.push('whole-song');
  if (spec.driftPpm !== 0) c.push(`drift${spec.driftPpm > 0 ? '+' : ''}${spec.driftPpm}ppm`);
  if (spec.room) c.push(`reverb-rt60-${spec.room.rt60}s-reflection-${spec.room.reflectionMs}ms-x${spec.room.reflectionGain}`);
  if (spec.hall) c.push(spec.hall.kind === 'greathall' ? `measured-great-hall-drr${spec.hall.drrDb}dB` : `modelled-room-rt60-${spec.hall.rt60 ?? 1}s-drr${spec.hall.drrDb}dB`);
  if (LOOP_SONGS.includes(spec.song as (typeof LOOP_SONGS)[number])) c.push('loop-based');
  if (spec.talkOver) c.push(`talk-over-music-${spec.talkOver.snrDb}dB`);
  if (spec.aacGenerations) c.push(`aac-generations+${spec.aacGenerations}`);
  if (spec.monoPhone) c.push('mono-phone');
  if (spec.bgmRemaster) c.push('bgm-remastered');
  if (spec.noise) c.push(`${spec.noise.color}-noise-${spec.noise.snrDb}dB`);
  if (spec.crowd) c.push(`crowd-${spec.crowd.snrDb}dB`);
  if (spec.counting) c.push(`counting-${spec.counting.snrDb}dB`);
  const snr = combinedSnrDb([spec.noise?.snrDb, spec.crowd?.snrDb, spec.counting?.snrDb].filter((x): x is number => x !== undefined));
  if (snr !== null) c.push(`snr-${(Math.round(snr * 10) / 10 || 0).toFixed(1)}dB`);
  if (spec.clipDb !== null) c.push(`clipped+${spec.clipDb}dB`);
  if (spec.band) c.push(`band-${spec.band[0]}-${spec.band[1]}Hz`);
  if (spec.agc) c.push(`agc-${spec.agc}`);
  c.push(`dance-${spec.container}`, `bgm-${spec.bgmFormat}`);
  if (spec.audioRate !== 48000) c.push(`dance-audio-${spec.audioRate}Hz`);
  return c;
}

export const SONGS = [
  'muldjord-armygeddon.ogg', // A 197 s
  'muldjord-chaos_god.ogg', // B 184 s
  'nexuiz-beast-of-insanity.ogg', // C 153 s
  'nexuiz-brokenlight.ogg', // D 187 s
  'nexuiz-calling-bogus.ogg', // E 278 s
  'nexuiz-chaos-fog.ogg', // F 271 s
  'nexuiz-desert3.ogg', // G 190 s
  'nexuiz-digital-pursuit.ogg', // H 196 s
  'nexuiz-ninesix.ogg', // I 208 s
  'nexuiz-stairs.ogg', // J 168 s
] as const;
const [A, B, C, D, E, F, G, H, I, J] = SONGS;

/** Tracker modules from ../shared/music-loops: patterns that repeat sample for sample, like loop-based dance tracks. */
export const LOOP_SONGS = [
  'pingus-goin_march.it', // 145 s
  'pingus-the_big_march_in_space.it', // 135 s
  'pingus-pingus-3.it', // 106 s
  'pingus-pingus-5.it', // 92 s
  'pingus-gd-giirm.s3m', // 52 s
] as const;
// Left out: pingus-rough_journey.it (its stereo channels are in anti-phase: a mono downmix is ~−87 dB, silence) and
// pingus-pingus-2.it (silent after 22.5 s).
const [LA, LB, LC, LD, LE] = LOOP_SONGS;

type Overrides = Partial<CaseSpec> & { id: string; song: string };

let seedCounter = 0;
export function makeCase(o: Overrides): CaseSpec {
  seedCounter++;
  return {
    bgmSong: o.song,
    bgmFormat: 'ogg',
    container: 'mp4-h264',
    video: { width: 320, height: 240, fps: 25 },
    audioRate: 48000,
    bgmStart: 0,
    leadIn: 0,
    musicSeconds: 60,
    tail: 0,
    driftPpm: 0,
    room: null,
    noise: null,
    crowd: null,
    counting: null,
    talk: false,
    clipDb: null,
    band: null,
    agc: null,
    seed: 1000 + seedCounter,
    ...o,
  };
}

const room = (rt60: number, reflectionMs: number, reflectionGain: number): RoomSpec => ({ rt60, reflectionMs, reflectionGain });
const slow = { width: 320, height: 240, fps: 15 };

/** The default corpus: every condition of the issue, several combined per case. */
export function defaultCases(): CaseSpec[] {
  seedCounter = 0;
  return [
    // Sanity: no effects, no drift. By hand: BGM 20 s plays at dance 3 s ⇒ offset 17 s, music 3..23 s.
    makeCase({ id: 'sanity-clean', song: A, bgmStart: 20, leadIn: 3, musicSeconds: 20, tail: 2 }),
    makeCase({ id: 'drift-plus300', song: B, leadIn: 5, talk: true, driftPpm: 300, noise: { color: 'pink', snrDb: 20 } }),
    makeCase({ id: 'drift-minus300', song: C, bgmStart: 30, driftPpm: -300, noise: { color: 'brown', snrDb: 15 } }),
    makeCase({ id: 'talk-15s-reverb', song: D, leadIn: 15, talk: true, room: room(0.8, 45, 0.8), noise: { color: 'pink', snrDb: 10 }, driftPpm: 80 }),
    makeCase({ id: 'talk-45s-counting-midsong', song: E, leadIn: 45, talk: true, bgmStart: 60, counting: { snrDb: 5 }, room: room(1.0, 60, 1.1), driftPpm: -120 }),
    makeCase({ id: 'talk-90s-crowd-phone-agc', song: F, leadIn: 90, talk: true, crowd: { snrDb: 0 }, band: [300, 3400], agc: 'dynaudnorm', driftPpm: 200, musicSeconds: 45, tail: 5 }),
    makeCase({ id: 'reverb-loud-late-reflection', song: G, room: room(1.4, 85, 1.4), noise: { color: 'brown', snrDb: 0 }, bgmStart: 40, driftPpm: -50 }),
    makeCase({ id: 'clipped-agc-counting', song: H, clipDb: 18, agc: 'dynaudnorm', leadIn: 8, talk: true, counting: { snrDb: 6 }, driftPpm: 150 }),
    makeCase({ id: 'wideband-compressor-counting-0dB', song: I, band: [100, 8000], agc: 'compressor', counting: { snrDb: 0 }, bgmStart: 100, driftPpm: -200 }),
    makeCase({ id: 'pink-minus5dB-reverb', song: J, noise: { color: 'pink', snrDb: -5 }, room: room(0.9, 35, 0.9), leadIn: 10, talk: true, driftPpm: 250 }),
    makeCase({ id: 'crowd-counting-minus5dB', song: A, crowd: { snrDb: -2 }, counting: { snrDb: -2 }, bgmStart: 90, driftPpm: -280, room: room(0.7, 50, 0.7) }),
    makeCase({ id: 'short-15s-midsong', song: B, bgmStart: 70, musicSeconds: 15, noise: { color: 'pink', snrDb: 5 } }),
    makeCase({ id: 'short-20s-talk5-counting', song: C, leadIn: 5, talk: true, musicSeconds: 20, bgmStart: 25, counting: { snrDb: 3 }, room: room(0.6, 30, 0.6) }),
    makeCase({ id: 'short-30s-drift-phone', song: D, bgmStart: 120, musicSeconds: 30, driftPpm: -200, room: room(1.2, 70, 1.2), band: [300, 3400] }),
    makeCase({ id: 'long-whole-song-reverb', song: G, leadIn: 10, talk: true, musicSeconds: null, tail: 3, room: room(0.9, 40, 1.0), noise: { color: 'pink', snrDb: 10 }, driftPpm: 120, video: slow }),
    makeCase({ id: 'long-whole-song-h265-mov', song: J, container: 'mov-h265', leadIn: 4, musicSeconds: null, driftPpm: -250, crowd: { snrDb: 5 }, video: slow }),
    makeCase({ id: 'ends-before-song-ends', song: H, bgmStart: 30, musicSeconds: 50, noise: { color: 'pink', snrDb: 10 } }),
    makeCase({ id: 'music-stops-talk-after', song: I, leadIn: 6, talk: true, musicSeconds: 40, tail: 20, counting: { snrDb: 6 } }),
    makeCase({ id: 'h265-mp4', song: E, container: 'mp4-h265', bgmStart: 150, musicSeconds: 40, room: room(0.8, 55, 0.9), noise: { color: 'pink', snrDb: 5 } }),
    makeCase({ id: 'h265-mov-phone-compressor', song: F, container: 'mov-h265', leadIn: 12, talk: true, musicSeconds: 40, band: [300, 3400], agc: 'compressor', driftPpm: 90 }),
    makeCase({ id: 'h264-mov-clipped', song: A, container: 'mov-h264', bgmStart: 60, musicSeconds: 40, crowd: { snrDb: 3 }, clipDb: 12 }),
    makeCase({ id: 'bgm-m4a', song: B, bgmFormat: 'm4a', leadIn: 20, talk: true, musicSeconds: 45, noise: { color: 'pink', snrDb: 3 }, driftPpm: -150 }),
    makeCase({ id: 'bgm-mp3', song: C, bgmFormat: 'mp3', bgmStart: 50, musicSeconds: 45, room: room(1.0, 65, 1.0), counting: { snrDb: 4 }, driftPpm: 60 }),
    makeCase({ id: 'bgm-wav', song: D, bgmFormat: 'wav', musicSeconds: 45, crowd: { snrDb: 2 }, band: [100, 8000] }),
    makeCase({ id: 'bgm-mp4-video', song: G, bgmFormat: 'mp4-video', leadIn: 30, talk: true, musicSeconds: 45, room: room(0.8, 40, 0.8), driftPpm: -90 }),
    makeCase({ id: 'bgm-mkv-video', song: H, bgmFormat: 'mkv-video', bgmStart: 80, musicSeconds: 45, noise: { color: 'brown', snrDb: 3 }, driftPpm: 40 }),
    makeCase({ id: 'dance-44k1-audio', song: I, audioRate: 44100, leadIn: 7, talk: true, musicSeconds: 45, noise: { color: 'brown', snrDb: 5 }, driftPpm: 220 }),
    makeCase({ id: 'worst-classroom-1', song: E, leadIn: 60, talk: true, room: room(1.3, 75, 1.3), crowd: { snrDb: 3 }, counting: { snrDb: 3 }, band: [300, 3400], clipDb: 15, agc: 'dynaudnorm', driftPpm: 280, tail: 8 }),
    makeCase({ id: 'worst-classroom-2', song: F, container: 'mov-h265', bgmStart: 45, room: room(1.1, 55, 1.2), noise: { color: 'pink', snrDb: 3 }, counting: { snrDb: 3 }, clipDb: 20, agc: 'compressor', driftPpm: -300, musicSeconds: 90 }),
    // About 5 minutes of recording against the longest song (4.6 min): the analysis-time case.
    makeCase({ id: 'long-5min', song: E, leadIn: 20, talk: true, musicSeconds: null, tail: 2, noise: { color: 'pink', snrDb: 15 }, room: room(0.6, 35, 0.5), driftPpm: 100, video: slow }),
    makeCase({ id: 'mismatch-clean', song: A, bgmSong: B, leadIn: 3, musicSeconds: 40 }),
    makeCase({ id: 'mismatch-noisy-reverb', song: C, bgmSong: D, room: room(1.0, 50, 1.0), crowd: { snrDb: 3 } }),
    makeCase({ id: 'mismatch-midsong-short', song: E, bgmSong: F, bgmStart: 100, musicSeconds: 20 }),
    makeCase({ id: 'mismatch-same-artist', song: B, bgmSong: A, leadIn: 20, talk: true, counting: { snrDb: 5 } }),
    makeCase({ id: 'mismatch-bgm-video', song: G, bgmSong: H, bgmFormat: 'mp4-video', musicSeconds: 45, driftPpm: 150 }),
    makeCase({ id: 'mismatch-long-m4a', song: I, bgmSong: J, bgmFormat: 'm4a', musicSeconds: null, video: slow }),
  ];
}

const greatHall = (drrDb: number): HallSpec => ({ kind: 'greathall', drrDb });
const modelled = (rt60: number, drrDb: number): HallSpec => ({ kind: 'modelled', rt60, drrDb });

/**
 * Our users' world: loop-based music (from its very beginning after talk, mid-song, with more AAC generations),
 * real and modelled echoing rooms (direct sound down to 10 dB below the reverberation, tails to 1.5 s), restarts
 * and two run-throughs, a recording longer than the song, talk over the whole song, mono 44.1 kHz phones, and BGM
 * as 96 kb/s mono MP3 or re-mastered.
 */
export function worldCases(): CaseSpec[] {
  seedCounter = 500;
  return [
    makeCase({ id: 'loop-from-top-talk6-hall', song: LA, leadIn: 6, talk: true, musicSeconds: 40, counting: { snrDb: 6 }, hall: greatHall(-8), noise: { color: 'pink', snrDb: 12 } }),
    makeCase({ id: 'loop-from-top-2aac-room', song: LB, leadIn: 8, talk: true, musicSeconds: 45, aacGenerations: 2, hall: modelled(1.2, -6), driftPpm: 120 }),
    makeCase({ id: 'loop-midsong-greathall-10dB', song: LC, bgmStart: 30, musicSeconds: 40, hall: greatHall(-8), noise: { color: 'pink', snrDb: 10 } }),
    makeCase({ id: 'loop-midsong-room-1.5s-drr-10', song: LE, bgmStart: 10, musicSeconds: 30, hall: modelled(1.5, -10), crowd: { snrDb: 5 }, driftPpm: -150 }),
    makeCase({ id: 'loop-midsong-3aac-noisy', song: LD, bgmStart: 25, musicSeconds: 30, aacGenerations: 3, noise: { color: 'brown', snrDb: 5 }, hall: modelled(0.9, -4) }),
    makeCase({ id: 'loop-restart-from-top', song: LA, leadIn: 4, talk: true, musicSeconds: 25, restart: { gapSeconds: 6, bgmStart: 0, musicSeconds: 40 }, counting: { snrDb: 5 }, hall: modelled(1.0, -6) }),
    makeCase({ id: 'two-runthroughs-one-take', song: B, leadIn: 5, talk: true, musicSeconds: 50, restart: { gapSeconds: 10, bgmStart: 0, musicSeconds: 50 }, hall: modelled(1.2, -8), noise: { color: 'pink', snrDb: 10 }, driftPpm: 90, video: slow }),
    makeCase({ id: 'loop-recording-longer-than-song', song: LE, leadIn: 10, talk: true, musicSeconds: null, tail: 25, hall: greatHall(-4) }),
    makeCase({ id: 'loop-talk-over-whole-song', song: LD, leadIn: 3, talk: true, musicSeconds: 60, talkOver: { snrDb: 0 }, hall: modelled(0.8, -3) }),
    makeCase({ id: 'loop-phone-44k1-mono', song: LC, audioRate: 44100, monoPhone: true, bgmStart: 20, musicSeconds: 45, band: [300, 3400], agc: 'dynaudnorm', hall: modelled(1.0, -6) }),
    makeCase({ id: 'loop-bgm-mp3-96k-mono', song: LB, bgmFormat: 'mp3-96k-mono', leadIn: 5, talk: true, musicSeconds: 40, hall: modelled(0.9, -4), counting: { snrDb: 4 } }),
    makeCase({ id: 'loop-bgm-remastered', song: LA, bgmFormat: 'm4a', bgmRemaster: true, bgmStart: 60, musicSeconds: 45, hall: greatHall(-6), noise: { color: 'pink', snrDb: 8 } }),
    makeCase({ id: 'greathall-midsong-10dB', song: J, bgmStart: 50, musicSeconds: 40, hall: greatHall(-8), noise: { color: 'pink', snrDb: 10 }, driftPpm: -60 }),
    makeCase({ id: 'mismatch-loops-hall', song: LA, bgmSong: LB, leadIn: 6, talk: true, musicSeconds: 40, hall: greatHall(-8) }),
    makeCase({ id: 'mismatch-loops-same-composer', song: LC, bgmSong: LD, bgmStart: 20, musicSeconds: 40, hall: modelled(1.0, -6) }),
  ];
}

export function quickCases(): CaseSpec[] {
  const pick = new Set(['sanity-clean', 'talk-15s-reverb', 'short-30s-drift-phone', 'h265-mov-phone-compressor', 'bgm-m4a', 'mismatch-clean']);
  return defaultCases().filter((c) => pick.has(c.id));
}

/** Default cases plus seeded random combinations of every condition. */
export function fullCases(extra = 24): CaseSpec[] {
  const out = defaultCases();
  let s = 0x5eed;
  const rnd = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  const pickOne = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const formats: BgmFormat[] = ['ogg', 'm4a', 'mp3', 'wav', 'mp4-video', 'mkv-video'];
  const containers: DanceContainer[] = ['mp4-h264', 'mp4-h265', 'mov-h264', 'mov-h265'];
  for (let k = 0; k < extra; k++) {
    const song = pickOne(SONGS);
    const mismatch = k % 6 === 5;
    const snr = Math.round(-5 + rnd() * 20);
    out.push(makeCase({
      id: `random-${String(k + 1).padStart(2, '0')}${mismatch ? '-mismatch' : ''}`,
      song,
      bgmSong: mismatch ? SONGS[(SONGS.indexOf(song) + 1 + Math.floor(rnd() * 9)) % SONGS.length] : song,
      bgmFormat: pickOne(formats),
      container: pickOne(containers),
      leadIn: rnd() < 0.6 ? Math.round(5 + rnd() * 85) : 0,
      talk: rnd() < 0.7,
      bgmStart: rnd() < 0.5 ? Math.round(rnd() * 100) : 0,
      musicSeconds: rnd() < 0.15 ? null : Math.round(15 + rnd() * 60),
      tail: rnd() < 0.3 ? Math.round(rnd() * 20) : 0,
      driftPpm: Math.round(-300 + rnd() * 600),
      room: rnd() < 0.6 ? room(+(0.5 + rnd()).toFixed(2), Math.round(30 + rnd() * 60), +(0.5 + rnd()).toFixed(2)) : null,
      noise: rnd() < 0.5 ? { color: pickOne(['pink', 'brown'] as const), snrDb: snr + 3 } : null,
      crowd: rnd() < 0.4 ? { snrDb: snr + 3 } : null,
      counting: rnd() < 0.5 ? { snrDb: snr + 3 } : null,
      clipDb: rnd() < 0.3 ? Math.round(6 + rnd() * 18) : null,
      band: rnd() < 0.4 ? pickOne([[300, 3400], [100, 8000]] as const).slice() as [number, number] : null,
      agc: rnd() < 0.4 ? pickOne(['compressor', 'dynaudnorm'] as const) : null,
      audioRate: rnd() < 0.2 ? 44100 : 48000,
      video: { width: 320, height: 240, fps: pickOne([15, 25, 30]) },
    }));
  }
  return out;
}
