// Retention: deletes old inputs, outputs and job rows, and sweeps what crashes leave behind.
// Runs at start-up and on a schedule. Never touches an upload a queued, retrying or running job reads.
import { parseQuotaMarker, QUOTA_PREFIX, TEMP_PREFIX, uploadDataKey } from '../storage/types.ts';
import type { FileStore, StoredObject } from '../storage/types.ts';
import type { JobRecord, JobState, JobStore } from './types.ts';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const LIVE: ReadonlySet<JobState> = new Set(['queued', 'running', 'retrying']);

export interface RetentionPolicy {
  /** Uploads after the last job using them finished (or after upload, when no job used them). */
  inputsMs: number;
  /** Outputs of succeeded jobs after the job finished. */
  outputsMs: number;
  /** Finished job rows (with events and checkpoints); the daily history stays. */
  jobsMs: number;
  /** Unfinished temp files, and output folders of jobs that do not exist or did not succeed. */
  orphansMs: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { inputsMs: DAY, outputsMs: 3 * DAY, jobsMs: 30 * DAY, orphansMs: HOUR };

export interface JanitorOptions {
  jobs: Pick<JobStore, 'list' | 'purgeFinishedBefore'>;
  files: FileStore;
  /** Upload ids a job reads (from the job-type registry). */
  inputFileIds: (job: JobRecord) => string[];
  retention?: Partial<RetentionPolicy>;
  /** Between scheduled runs. */
  intervalMs?: number;
  now?: () => number;
  /** Called after each scheduled run (logs, metrics). */
  onReport?: (report: JanitorReport) => void;
  onError?: (err: unknown) => void;
}

export interface DeletedCount {
  /** Upload ids, output job ids, or temp files. */
  items: number;
  files: number;
  bytes: number;
}

export interface JanitorReport {
  inputs: DeletedCount;
  outputs: DeletedCount;
  orphanOutputs: DeletedCount;
  temp: DeletedCount;
  /** Upload quota markers (quota/<owner>/<fileId>.<size>) whose upload is gone. */
  quotaMarkers: DeletedCount;
  jobRows: number;
  /** Keys that could not be deleted (left for the next run). */
  errors: string[];
  startedAt: number;
}

interface JobFacts {
  state: JobState;
  finishedAt: number | null;
}

interface JobScan {
  jobs: Map<string, JobFacts>;
  /** Uploads read by queued, retrying or running jobs: never deleted. */
  liveFileIds: Set<string>;
  /** Upload id → latest finish time of a job that read it. */
  lastFinishedUse: Map<string, number>;
}

function emptyCount(): DeletedCount {
  return { items: 0, files: 0, bytes: 0 };
}

/** Groups objects by their second path segment (uploads/<fileId>/…, outputs/<jobId>/…). */
function groupBySecondSegment(objects: StoredObject[]): Map<string, StoredObject[]> {
  const groups = new Map<string, StoredObject[]>();
  for (const o of objects) {
    const id = o.key.split('/')[1];
    if (!id) continue;
    const group = groups.get(id) ?? [];
    group.push(o);
    groups.set(id, group);
  }
  return groups;
}

async function collect(iterable: AsyncIterable<StoredObject>): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const o of iterable) out.push(o);
  return out;
}

export class Janitor {
  private readonly options: JanitorOptions;
  private readonly retention: RetentionPolicy;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<JanitorReport> | null = null;

  constructor(options: JanitorOptions) {
    this.options = options;
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.intervalMs = options.intervalMs ?? HOUR;
    this.now = options.now ?? Date.now;
  }

  /** Runs once now, then every intervalMs. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.scheduledRun(), this.intervalMs);
    this.timer.unref();
    void this.scheduledRun();
  }

  /** Stops the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  /** One retention pass (a pass already in progress is joined, never run twice at once). */
  run(): Promise<JanitorReport> {
    if (!this.running) {
      this.running = this.pass().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private async scheduledRun(): Promise<void> {
    try {
      const report = await this.run();
      this.options.onReport?.(report);
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  private async pass(): Promise<JanitorReport> {
    const now = this.now();
    const report: JanitorReport = {
      inputs: emptyCount(), outputs: emptyCount(), orphanOutputs: emptyCount(), temp: emptyCount(), quotaMarkers: emptyCount(),
      jobRows: 0, errors: [], startedAt: now,
    };
    const { files } = this.options;

    const scan = await this.scanJobs();
    const uploads = groupBySecondSegment(await collect(files.list('uploads/')));
    const outputs = groupBySecondSegment(await collect(files.list('outputs/')));
    const temps = await collect(files.list(TEMP_PREFIX));
    // Jobs submitted while we listed files: their uploads are live too.
    await this.scanNewJobs(scan);

    for (const [fileId, objects] of uploads) {
      if (scan.liveFileIds.has(fileId)) continue;
      const lastUse = Math.max(scan.lastFinishedUse.get(fileId) ?? 0, ...objects.map((o) => o.mtimeMs));
      if (now - lastUse > this.retention.inputsMs) await this.remove(objects, report.inputs, report.errors);
    }

    for (const [jobId, objects] of outputs) {
      const job = scan.jobs.get(jobId);
      if (job && LIVE.has(job.state)) continue; // a running attempt may be writing them
      if (job?.state === 'succeeded') {
        if (now - (job.finishedAt ?? now) > this.retention.outputsMs) await this.remove(objects, report.outputs, report.errors);
        continue;
      }
      // Unknown job or failed/cancelled: an orphan once nothing has touched it for a while.
      const newest = Math.max(...objects.map((o) => o.mtimeMs));
      if (now - newest > this.retention.orphansMs) await this.remove(objects, report.orphanOutputs, report.errors);
    }

    for (const temp of temps) {
      if (now - temp.mtimeMs > this.retention.orphansMs) await this.remove([temp], report.temp, report.errors);
    }

    // After the inputs, so a marker goes in the same pass as its upload. A marker is written after its
    // upload's data, so a marker without data is never an upload still in progress.
    for (const marker of await collect(files.list(QUOTA_PREFIX))) {
      const parsed = parseQuotaMarker(marker.key);
      if (parsed && !(await files.stat(uploadDataKey(parsed.fileId)))) await this.remove([marker], report.quotaMarkers, report.errors);
    }

    report.jobRows = await this.options.jobs.purgeFinishedBefore(now - this.retention.jobsMs);
    return report;
  }

  /** Reads every job once: live file ids, when each upload was last used by a finished job, and job states. */
  private async scanJobs(): Promise<JobScan> {
    const scan: JobScan = { jobs: new Map(), liveFileIds: new Set(), lastFinishedUse: new Map() };
    let cursor: string | null = null;
    do {
      const page: { jobs: JobRecord[]; nextCursor: string | null } = await this.options.jobs.list({ cursor, limit: 500 });
      for (const job of page.jobs) this.note(scan, job);
      cursor = page.nextCursor;
    } while (cursor);
    return scan;
  }

  /** Re-reads the newest jobs until one already seen (list is newest first). */
  private async scanNewJobs(scan: JobScan): Promise<void> {
    let cursor: string | null = null;
    do {
      const page: { jobs: JobRecord[]; nextCursor: string | null } = await this.options.jobs.list({ cursor, limit: 100 });
      for (const job of page.jobs) {
        if (scan.jobs.has(job.id)) return;
        this.note(scan, job);
      }
      cursor = page.nextCursor;
    } while (cursor);
  }

  private note(scan: JobScan, job: JobRecord): void {
    scan.jobs.set(job.id, { state: job.state, finishedAt: job.finishedAt });
    let ids: string[] = [];
    try {
      ids = this.options.inputFileIds(job);
    } catch {
      ids = [];
    }
    for (const id of ids) {
      if (LIVE.has(job.state)) scan.liveFileIds.add(id);
      else scan.lastFinishedUse.set(id, Math.max(scan.lastFinishedUse.get(id) ?? 0, job.finishedAt ?? job.updatedAt));
    }
  }

  private async remove(objects: StoredObject[], count: DeletedCount, errors: string[]): Promise<void> {
    let removed = 0;
    for (const o of objects) {
      try {
        await this.options.files.delete(o.key);
        count.files++;
        count.bytes += o.size;
        removed++;
      } catch {
        errors.push(o.key);
      }
    }
    if (removed > 0) count.items++;
  }
}
