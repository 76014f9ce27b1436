// Messages between the worker pool (parent) and a job's child process, over Node's IPC channel.
import type { FileStoreSpec } from './file-spec.ts';
import type { HandlerRef } from './job-type.ts';
import type { JobError, JobProgress } from './types.ts';

export interface StartMessage {
  kind: 'start';
  jobId: string;
  type: string;
  attempt: number;
  input: unknown;
  handler: HandlerRef;
  checkpoints: Record<string, unknown>;
  files: FileStoreSpec;
  threads: number;
  tmpDir: string;
}

export type ParentMessage =
  | StartMessage
  | { kind: 'checkpoint-saved'; seq: number }
  | { kind: 'checkpoint-failed'; seq: number; message: string };

export type ChildMessage =
  | { kind: 'progress'; progress: JobProgress }
  | { kind: 'checkpoint'; seq: number; stage: string; data: unknown }
  | { kind: 'done'; result: unknown }
  | { kind: 'error'; error: JobError; detail?: string };
