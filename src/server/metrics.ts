// Prometheus metrics of one API node: its own registry (several servers may share a process in tests),
// HTTP latency by route, upload bytes, and job-system gauges read from the store when scraped.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobState } from '../jobs/types.ts';
import type { JobSystem } from './context.ts';

export interface ServerMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  uploadBytes: Counter<'via'>;
  uploadsRejected: Counter<'code'>;
  /** Seconds per pipeline stage of finished jobs (observed by whoever learns them, e.g. the job routes). */
  jobStageSeconds: Histogram<'stage'>;
}

const JOB_STATES: JobState[] = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'];

export function createMetrics(system: JobSystem): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'beatsync_' });

  const httpDuration = new Histogram({
    name: 'beatsync_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
    registers: [registry],
  });
  const uploadBytes = new Counter({
    name: 'beatsync_upload_bytes_total',
    help: 'Bytes received in uploads that were kept',
    labelNames: ['via'] as const,
    registers: [registry],
  });
  const uploadsRejected = new Counter({
    name: 'beatsync_uploads_rejected_total',
    help: 'Uploads refused, by error code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  // Stage timings come from the reports of jobs that succeeded since this node started, read at scrape time.
  const startedAt = Date.now();
  const seen = new Set<string>();
  const jobStageSeconds: Histogram<'stage'> = new Histogram({
    name: 'beatsync_job_stage_seconds',
    help: 'Time per pipeline stage of jobs that succeeded since this node started (from their reports)',
    labelNames: ['stage'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry],
    async collect() {
      const { jobs } = await system.store.list({ state: 'succeeded', limit: 100 });
      for (const job of jobs) {
        if (seen.has(job.id) || (job.finishedAt ?? 0) < startedAt) continue;
        seen.add(job.id);
        const timings = (job.result as { report?: { timings?: Record<string, unknown> } } | null)?.report?.timings ?? {};
        for (const [stage, ms] of Object.entries(timings)) {
          if (typeof ms === 'number' && Number.isFinite(ms)) jobStageSeconds.observe({ stage }, ms / 1000);
        }
      }
      // Only the newest hundred can come back in a page: older ids need not be remembered.
      if (seen.size > 1000) for (const id of [...seen].slice(0, seen.size - 200)) seen.delete(id);
    },
  });

  new Gauge({
    name: 'beatsync_jobs',
    help: 'Jobs by state (from the job store at scrape time)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const stats = await system.store.stats();
      for (const state of JOB_STATES) this.set({ state }, stats.byState[state] ?? 0);
    },
  });
  new Gauge({
    name: 'beatsync_queue_depth',
    help: 'Jobs waiting to run',
    registers: [registry],
    async collect() {
      this.set((await system.store.stats()).queueDepth);
    },
  });
  new Gauge({
    name: 'beatsync_disk_free_bytes',
    help: 'Free bytes where uploads and outputs are written',
    registers: [registry],
    async collect() {
      const free = await system.files.freeBytes();
      if (free !== null) this.set(free);
    },
  });

  return { registry, httpDuration, uploadBytes, uploadsRejected, jobStageSeconds };
}
