// The one way to start ffmpeg/ffprobe: argument arrays (no shell), own process group, cancel/time limit kill
// the whole tree, -progress parsing, bounded stderr/stdout, failures mapped to BeatSyncError codes.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { BeatSyncError } from '../errors.ts';
import { errorFromExit } from './stderr.ts';
import type { RunOptions } from './types.ts';

/** stderr kept for error mapping: only the tail matters. */
const STDERR_TAIL_CHARS = 16_384;
/** Time between SIGTERM (lets ffmpeg close its files) and SIGKILL. */
const KILL_GRACE_MS = 1500;
const DEFAULT_PROBE_OUTPUT_BYTES = 16 * 1024 * 1024;

type Tool = 'ffmpeg' | 'ffprobe';

/** Binaries, overridable for deployments (and tests) through FFMPEG_PATH / FFPROBE_PATH. */
export function toolPath(tool: Tool): string {
  const fromEnv = tool === 'ffmpeg' ? process.env.FFMPEG_PATH : process.env.FFPROBE_PATH;
  return fromEnv && fromEnv.length > 0 ? fromEnv : tool;
}

// Process groups still running: killed if this Node process exits first, so none is orphaned.
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const group of liveGroups) killGroup(group, 'SIGKILL');
    });
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

interface SpawnSpec extends RunOptions {
  /** Receives stdout chunks as they come (decoding); mutually exclusive with collectStdout. */
  onStdout?: (chunk: Buffer) => void;
  collectStdout?: boolean;
  maxStdoutBytes?: number;
  /** ffmpeg writes -progress to fd 3. */
  progressFd?: boolean;
  /** Receives the child's stdout unread, to become another child's stdin (the producer of a pipe). */
  onStdoutPipe?: (stdout: Readable) => void;
  /** The child reads this pipe as its stdin (the consumer); the parent's end is closed once it started. */
  stdinFrom?: Readable;
}

interface SpawnResult {
  stdout: Buffer;
  stderr: string;
}

type StopReason = { kind: 'abort' } | { kind: 'timeout' } | { kind: 'overflow' } | { kind: 'callback'; error: unknown };

function runTool(tool: Tool, args: string[], spec: SpawnSpec): Promise<SpawnResult> {
  if (spec.signal?.aborted) return Promise.reject(new BeatSyncError('CANCELLED', `${tool} was not started`));
  return new Promise<SpawnResult>((resolve, reject) => {
    const stdio: Array<'ignore' | 'pipe' | Readable> = [spec.stdinFrom ?? 'ignore', 'pipe', 'pipe'];
    if (spec.progressFd) stdio.push('pipe');
    const child = spawn(toolPath(tool), args, {
      stdio,
      detached: true,
      env: { ...process.env, AV_LOG_FORCE_NOCOLOR: '1' },
    });

    let stderr = '';
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stop: StopReason | null = null;
    let graceTimer: NodeJS.Timeout | undefined;
    let limitTimer: NodeJS.Timeout | undefined;
    let spawnError: NodeJS.ErrnoException | null = null;

    const stopTree = (reason: StopReason) => {
      if (stop || child.pid === undefined) return;
      stop = reason;
      killGroup(child.pid, 'SIGTERM');
      graceTimer = setTimeout(() => {
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      }, KILL_GRACE_MS);
    };
    const onAbort = () => stopTree({ kind: 'abort' });

    if (child.pid !== undefined) {
      trackGroup(child.pid);
      spec.onSpawn?.(child.pid);
    }
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    if (spec.timeoutMs !== undefined && spec.timeoutMs > 0) {
      limitTimer = setTimeout(() => stopTree({ kind: 'timeout' }), spec.timeoutMs);
    }

    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      stderr += text;
      if (stderr.length > 2 * STDERR_TAIL_CHARS) stderr = stderr.slice(-STDERR_TAIL_CHARS);
    });
    // The two children talk directly; this process keeps no end of their pipe.
    spec.stdinFrom?.destroy();
    if (spec.onStdoutPipe) spec.onStdoutPipe(child.stdout!);
    else child.stdout!.on('data', (chunk: Buffer) => {
      if (stop) return;
      if (spec.onStdout) {
        try {
          spec.onStdout(chunk);
        } catch (error) {
          stopTree({ kind: 'callback', error });
        }
        return;
      }
      if (!spec.collectStdout) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > (spec.maxStdoutBytes ?? DEFAULT_PROBE_OUTPUT_BYTES)) {
        stopTree({ kind: 'overflow' });
        return;
      }
      chunks.push(chunk);
    });
    if (spec.progressFd) watchProgress(child.stdio[3] as Readable, spec);

    child.on('error', (error: NodeJS.ErrnoException) => {
      spawnError = error;
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(limitTimer);
      clearTimeout(graceTimer);
      spec.signal?.removeEventListener('abort', onAbort);
      if (child.pid !== undefined) {
        liveGroups.delete(child.pid);
        // Anything the tool left behind in its group goes with it.
        if (stop) killGroup(child.pid, 'SIGKILL');
      }
      if (spawnError) {
        const missing = spawnError.code === 'ENOENT';
        reject(
          new BeatSyncError(
            'PROCESSING_FAILED',
            missing
              ? `${tool} is not installed or not on PATH (install ffmpeg, or set ${tool === 'ffmpeg' ? 'FFMPEG_PATH' : 'FFPROBE_PATH'})`
              : `${tool} could not be started: ${spawnError.code ?? spawnError.message}`,
            { retryable: !missing, cause: spawnError },
          ),
        );
        return;
      }
      const reason = stop as StopReason | null;
      if (reason) {
        if (reason.kind === 'abort') reject(new BeatSyncError('CANCELLED', `${tool} was stopped`));
        else if (reason.kind === 'timeout') reject(new BeatSyncError('TIMEOUT', `${tool} exceeded its time limit of ${spec.timeoutMs} ms`));
        else if (reason.kind === 'overflow') reject(new BeatSyncError('RESOURCE_LIMIT', `${tool} output exceeded ${spec.maxStdoutBytes ?? DEFAULT_PROBE_OUTPUT_BYTES} bytes`));
        else reject(reason.error);
        return;
      }
      if (exitCode === 0) {
        resolve({ stdout: Buffer.concat(chunks), stderr });
        return;
      }
      reject(errorFromExit({ tool, stderr, exitCode, signal }));
    });
  });
}

/** Parses ffmpeg's `-progress` key=value blocks; one callback per block. */
function watchProgress(stream: Readable, spec: SpawnSpec): void {
  let pending = '';
  let outTimeSeconds = 0;
  let speed: number | null = null;
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    pending += text;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      if (key === 'out_time_us' || key === 'out_time_ms') {
        // Both are microseconds (out_time_ms is misnamed in ffmpeg).
        const us = Number(value);
        if (Number.isFinite(us) && us >= 0) outTimeSeconds = us / 1e6;
      } else if (key === 'speed') {
        const x = Number.parseFloat(value);
        speed = Number.isFinite(x) ? x : null;
      } else if (key === 'progress' && spec.onProgress) {
        const expected = spec.expectedDurationSeconds;
        let fraction: number | null = null;
        if (expected !== undefined && expected > 0) fraction = value === 'end' ? 1 : Math.min(1, Math.max(0, outTimeSeconds / expected));
        spec.onProgress({ outTimeSeconds, fraction, speed });
      }
    }
  });
}

function hasOption(args: readonly string[], ...names: string[]): boolean {
  return args.some((a) => names.includes(a));
}

/** Adds the decoder/encoder/filter thread limit around every input and the (last) output. */
export function withThreads(args: readonly string[], threads: number | undefined): string[] {
  if (threads === undefined || threads <= 0 || hasOption(args, '-threads')) return [...args];
  const n = String(Math.floor(threads));
  const out: string[] = ['-filter_threads', n];
  args.forEach((arg, i) => {
    if (arg === '-i' || i === args.length - 1) out.push('-threads', n);
    out.push(arg);
  });
  return out;
}

/** Runs ffmpeg with `args` (inputs named with inputArgs for user files); resolves with the stderr tail. */
export async function runFfmpeg(args: string[], options: RunOptions = {}): Promise<{ stderr: string }> {
  const { stderr } = await runTool('ffmpeg', ffmpegArgs(args, options), { ...options, progressFd: true });
  return { stderr };
}

/** Runs ffmpeg writing raw output to `pipe:1`; each stdout chunk goes to onData as it arrives. */
export async function runFfmpegStream(args: string[], onData: (chunk: Buffer) => void, options: RunOptions = {}): Promise<{ stderr: string }> {
  const { stderr } = await runTool('ffmpeg', ffmpegArgs(args, options), { ...options, progressFd: true, onStdout: onData });
  return { stderr };
}

/** Runs ffmpeg writing to `pipe:1` and resolves with all of it (bounded: RESOURCE_LIMIT past the cap). */
export async function runFfmpegToBuffer(args: string[], options: RunOptions & { maxOutputBytes?: number } = {}): Promise<{ stdout: Buffer; stderr: string }> {
  return runTool('ffmpeg', ffmpegArgs(args, options), {
    ...options,
    progressFd: true,
    collectStdout: true,
    maxStdoutBytes: options.maxOutputBytes ?? 64 * 1024 * 1024,
  });
}

/**
 * Runs two ffmpegs side by side, the first one's `pipe:1` feeding the second one's `pipe:0`, so that two
 * single-threaded stages (e.g. the sound's filters and the AAC encoder) use two cores. Progress comes
 * from the second. Settles when both have ended; if either fails the other is stopped, and the error
 * thrown is the consumer's when it failed on its own (the producer then only saw a broken pipe).
 */
export async function runFfmpegPiped(producerArgs: string[], consumerArgs: string[], options: RunOptions = {}): Promise<void> {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  let handOver!: (stdout: Readable) => void;
  let noPipe!: (error: unknown) => void;
  const pipe = new Promise<Readable>((resolve, reject) => {
    handOver = resolve;
    noPipe = reject;
  });
  const producer = runTool('ffmpeg', ffmpegArgs(producerArgs, options), { ...options, signal, onProgress: undefined, progressFd: true, onStdoutPipe: (out) => handOver(out) });
  // A producer that never started (cancelled first) starts no consumer.
  producer.then(() => noPipe(new BeatSyncError('PROCESSING_FAILED', 'ffmpeg ended before its output was read')), noPipe);
  const consumer = pipe.then((stdin) => runTool('ffmpeg', ffmpegArgs(consumerArgs, options), { ...options, signal, progressFd: true, stdinFrom: stdin }));
  const failFast = (p: Promise<unknown>) => p.catch((error: unknown) => {
    stop.abort();
    throw error;
  });
  const [made, used] = await Promise.allSettled([failFast(producer), failFast(consumer)]);
  if (used.status === 'rejected' && !(made.status === 'rejected' && isStopped(used.reason))) throw used.reason;
  if (made.status === 'rejected') throw made.reason;
}

/** A stop we caused (the other side of a pipe failed), not a failure of its own. */
function isStopped(error: unknown): boolean {
  return error instanceof BeatSyncError && error.code === 'CANCELLED';
}

function ffmpegArgs(args: string[], options: RunOptions): string[] {
  const prefix = ['-nostdin', '-hide_banner', '-nostats', '-progress', 'pipe:3'];
  if (!hasOption(args, '-v', '-loglevel')) prefix.push('-loglevel', 'error');
  return [...prefix, ...withThreads(args, options.threads)];
}

export interface ProbeRunOptions extends RunOptions {
  /** Refuse (RESOURCE_LIMIT) when ffprobe prints more than this. */
  maxOutputBytes?: number;
}

/** Runs ffprobe; resolves with its stdout (bounded) and stderr tail. */
export async function runFfprobe(args: string[], options: ProbeRunOptions = {}): Promise<{ stdout: string; stderr: string }> {
  const prefix = ['-hide_banner'];
  if (!hasOption(args, '-v', '-loglevel')) prefix.push('-v', 'error');
  const { stdout, stderr } = await runTool('ffprobe', [...prefix, ...args], {
    ...options,
    collectStdout: true,
    maxStdoutBytes: options.maxOutputBytes ?? DEFAULT_PROBE_OUTPUT_BYTES,
  });
  return { stdout: stdout.toString('utf8'), stderr };
}
