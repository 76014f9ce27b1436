// The alignment engine's contract. Convention: BGM time = offsetSeconds + speed × dance time.

export interface AlignInput {
  /** Mono PCM of the phone recording (the dance video's sound), in -1..1. */
  dance: Float32Array;
  /** Mono PCM of the clean song, same sample rate. */
  bgm: Float32Array;
  sampleRate: number;
}

export interface AlignOptions {
  /** Largest clock drift searched, in ppm (default 500). */
  maxDriftPpm?: number;
  /** Reports coarse progress 0..1 (the caller maps it to a stage). */
  onProgress?: (fraction: number) => void;
}

export interface AlignCandidate {
  offsetSeconds: number;
  /**
   * How plausible this place is next to the winner, 0..1: 1 when the recording fits it as well (an
   * identically repeated section), near 0 when the winner clearly explains the recording better.
   */
  score: number;
}

/** One stretch of the recording that follows one mapping (a run-through; a restart begins a new one). */
export interface AlignSegment {
  /** Dance time (s) where this stretch's music starts / ends. */
  danceStart: number;
  danceEnd: number;
  /** BGM time at dance time 0 on this stretch's line: BGM time = offsetSeconds + speed × dance time. */
  offsetSeconds: number;
  speed: number;
  driftPpm: number;
  /** Calibrated probability that this stretch's mapping is right (0..1). */
  confidence: number;
}

export interface Alignment {
  /** BGM time at dance time 0, seconds (may be negative: the recording starts before the song). */
  offsetSeconds: number;
  /** 1 ± clock drift: BGM seconds per dance second. */
  speed: number;
  /** (speed - 1) × 1e6, for people. */
  driftPpm: number;
  /**
   * 0..1, for people: ≥ 0.8 sure; 0.5–0.8 found, but weakly heard or with a plausible second place
   * (see `candidates`); below 0.5 doubtful; ≈ 0 not the song.
   */
  confidence: number;
  /** False when the song does not appear in the recording (the pipeline then raises NO_MATCH). */
  matched: boolean;
  /** Dance time (s) where the song's sound starts to be heard (after talk/lead-in). */
  musicStart: number;
  /** Dance time (s) where the song's sound ends (song over or recording over). */
  musicEnd: number;
  /** Runner-up offsets (not the winner), strongest first. */
  candidates: AlignCandidate[];
  /**
   * True when two or more places in the song explain the recording equally well (an exact repeat with
   * nothing inside the recording to tell them apart): `candidates[0]` is the other place, and the
   * confidence is then at most 0.5.
   */
  ambiguous: boolean;
  /**
   * Every stretch of music found, in dance-time order (restarts, several run-throughs). The top-level
   * offset/speed/musicStart/musicEnd describe the longest one. Empty when not matched.
   */
  segments: AlignSegment[];
  /** Stretches that followed a mapping of their own but were too short to keep (< ~5 s). */
  droppedSegments?: { danceStart: number; danceEnd: number }[];
  /** Fine-stage windows that agreed with the fit / windows measured. */
  windowsUsed: number;
  windowsTotal: number;
}
