// The alignment picture (the recording's loudness with the clean song's drawn over it at the found offset)
// and the nudge preview (the video muted, the song played by Web Audio at the nudged offset).
import type { Alignment } from './api.ts';
import { fileEnvelope, mono } from './envelope.ts';
import type { FileEnvelope, PictureCurves } from './envelope.ts';

export const POINTS = 240;
const DECODE_RATE = 22_050;
/** Larger files are not decoded in the browser (memory on phones). */
export const MAX_DECODE_BYTES = 300 * 1024 * 1024;

export interface Pcm {
  samples: Float32Array;
  sampleRate: number;
  seconds: number;
}

/** Decodes a file's sound (audio or the audio track of a video) to mono at a low rate. */
export async function decodePcm(data: Blob | ArrayBuffer, rate = DECODE_RATE): Promise<Pcm> {
  const buffer = data instanceof Blob ? await data.arrayBuffer() : data;
  const ctx = new OfflineAudioContext(1, 1, rate);
  const audio = await ctx.decodeAudioData(buffer);
  const channels: Float32Array[] = [];
  for (let c = 0; c < audio.numberOfChannels; c++) channels.push(audio.getChannelData(c));
  return { samples: mono(channels), sampleRate: audio.sampleRate, seconds: audio.duration };
}

/** A file's envelope, decoded in the browser (null when it cannot be decoded here or is too big). */
export async function envelopeOfFile(file: File): Promise<FileEnvelope | null> {
  if (file.size > MAX_DECODE_BYTES) return null;
  try {
    const pcm = await decodePcm(file);
    return fileEnvelope(pcm.samples, pcm.sampleRate);
  } catch {
    return null;
  }
}

/** Draws the picture; `musicStart`/`musicEnd` shade where the song is heard. Colours come from CSS variables. */
export function drawAlignment(canvas: HTMLCanvasElement, env: PictureCurves | null, alignment: Alignment | null): void {
  const dpr = Math.min(2, globalThis.devicePixelRatio || 1);
  const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const g = canvas.getContext('2d');
  if (!g) return;
  const css = getComputedStyle(canvas);
  const color = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  g.clearRect(0, 0, width, height);
  g.fillStyle = color('--canvas-bg', '#f4f2fb');
  g.fillRect(0, 0, width, height);
  if (!env) return;
  const axis = 16 * dpr;
  const plotH = height - axis;
  const x = (seconds: number) => (seconds / env.seconds) * width;
  // One shaded band per run-through (numbered when there are several), else where the song is heard.
  const segments = alignment?.segments ?? [];
  const bands = segments.length > 1 ? segments.map((sg) => [sg.danceStart, sg.danceEnd]) : alignment ? [[alignment.musicStart, alignment.musicEnd]] : [];
  canvas.dataset.segments = String(segments.length > 1 ? segments.length : 0);
  bands.forEach(([start, end], i) => {
    const a = Math.max(0, x(start));
    const b = Math.min(width, x(end));
    g.fillStyle = color(i % 2 ? '--canvas-band-2' : '--canvas-band', i % 2 ? 'rgba(0,122,94,0.12)' : 'rgba(91,61,245,0.08)');
    g.fillRect(a, 0, Math.max(0, b - a), plotH);
    if (bands.length > 1) {
      g.fillStyle = color('--canvas-axis', '#4a4f5c');
      g.fillRect(a, 0, Math.max(dpr, 2 * dpr), plotH);
    }
  });
  // Each curve is stretched to its own range: the shapes are what should line up, not the loudness.
  const curve = (raw: number[]) => {
    const values = stretch(raw);
    g.beginPath();
    values.forEach((v, i) => {
      const px = (i / (values.length - 1)) * width;
      const py = plotH - v * (plotH - 6 * dpr);
      if (i === 0) g.moveTo(px, py);
      else g.lineTo(px, py);
    });
  };
  curve(env.recording);
  g.lineTo(width, plotH);
  g.lineTo(0, plotH);
  g.closePath();
  g.fillStyle = color('--canvas-rec', '#9aa3b5');
  g.fill();
  curve(env.music);
  g.strokeStyle = color('--canvas-music', '#5b3df5');
  g.lineWidth = 2 * dpr;
  g.stroke();
  if (bands.length > 1) {
    g.font = `bold ${12 * dpr}px system-ui, sans-serif`;
    g.textBaseline = 'top';
    g.fillStyle = color('--canvas-axis', '#4a4f5c');
    bands.forEach(([start], i) => g.fillText(String(i + 1), Math.max(0, x(start)) + 4 * dpr, 8 * dpr));
  }
  // Time axis: a tick every "nice" step.
  g.fillStyle = color('--canvas-axis', '#4a4f5c');
  g.font = `${11 * dpr}px system-ui, sans-serif`;
  g.textBaseline = 'bottom';
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300].find((s) => env.seconds / s <= 8) ?? 600;
  for (let s = 0; s <= env.seconds; s += step) {
    const px = x(s);
    if (px > width - 28 * dpr && s > 0) break;
    g.fillRect(px, plotH, dpr, 4 * dpr);
    const label = s >= 60 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}` : `${s}s`;
    g.fillText(label, Math.min(px + 2 * dpr, width - 30 * dpr), height);
  }
}

/** Maps the 5th percentile to 0.05 and the maximum to 1 (silence stays at the bottom). */
export function stretch(values: number[]): number[] {
  const sorted = values.filter((v) => v > 0).sort((a, b) => a - b);
  if (sorted.length === 0) return values;
  const low = sorted[Math.floor(sorted.length * 0.05)];
  const high = sorted[sorted.length - 1];
  const span = Math.max(1e-3, high - low);
  return values.map((v) => (v <= 0 ? 0 : Math.max(0, Math.min(1, 0.05 + (0.95 * (v - low)) / span))));
}

/**
 * Plays `buffer` in step with `video`: buffer time = map(video time). The video is muted while previewing;
 * seeking or pausing restarts the sound at the right place.
 */
export class NudgePreview {
  private readonly video: HTMLVideoElement;
  private ctx: AudioContext | null = null;
  private source: AudioBufferSourceNode | null = null;
  private buffer: AudioBuffer | null = null;
  private map: (videoTime: number) => number = (t) => t;
  private rate = 1;
  private active = false;
  private readonly restart = () => this.startSound();
  private readonly halt = () => this.stopSound();

  constructor(video: HTMLVideoElement) {
    this.video = video;
  }

  get playing(): boolean {
    return this.active;
  }

  /** Decodes at the device rate for playback (kept for later previews). */
  async load(data: ArrayBuffer): Promise<void> {
    this.ctx ??= new AudioContext();
    this.buffer = await this.ctx.decodeAudioData(data);
  }

  get loaded(): boolean {
    return this.buffer !== null;
  }

  /** `map` gives the buffer time for a video time; `rate` the buffer seconds per video second. */
  setMapping(map: (videoTime: number) => number, rate: number): void {
    this.map = map;
    this.rate = rate;
    if (this.active && !this.video.paused) this.startSound();
  }

  async start(): Promise<void> {
    this.ctx ??= new AudioContext();
    await this.ctx.resume();
    this.active = true;
    this.video.muted = true;
    this.video.addEventListener('playing', this.restart);
    this.video.addEventListener('seeked', this.restart);
    this.video.addEventListener('pause', this.halt);
    this.video.addEventListener('waiting', this.halt);
    if (this.video.paused) await this.video.play().catch(() => undefined);
    else this.startSound();
  }

  stop(): void {
    this.active = false;
    this.stopSound();
    this.video.removeEventListener('playing', this.restart);
    this.video.removeEventListener('seeked', this.restart);
    this.video.removeEventListener('pause', this.halt);
    this.video.removeEventListener('waiting', this.halt);
    this.video.muted = false;
  }

  dispose(): void {
    this.stop();
    void this.ctx?.close();
    this.ctx = null;
  }

  private startSound(): void {
    this.stopSound();
    if (!this.active || !this.ctx || !this.buffer || this.video.paused) return;
    const at = this.map(this.video.currentTime);
    const source = this.ctx.createBufferSource();
    source.buffer = this.buffer;
    source.playbackRate.value = this.rate;
    source.connect(this.ctx.destination);
    // Before the song's first sample: wait; the song is then in step.
    if (at >= 0) source.start(0, at);
    else source.start(this.ctx.currentTime + -at / this.rate, 0);
    this.source = source;
  }

  private stopSound(): void {
    try {
      this.source?.stop();
    } catch {
      // already stopped
    }
    this.source?.disconnect();
    this.source = null;
  }
}
