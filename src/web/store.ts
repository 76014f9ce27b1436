// What the page remembers between visits (localStorage): its jobs, unfinished uploads (to resume them),
// finished uploads (to reuse them), and each uploaded file's sound envelope (for the alignment picture).
export interface SavedJob {
  id: string;
  createdAt: number;
  danceName: string;
  bgmName: string;
  danceFileId: string;
  bgmFileId: string;
}

export interface SavedUpload {
  fingerprint: string;
  name: string;
  size: number;
  /** tus upload URL while unfinished. */
  url: string | null;
  fileId: string | null;
  /** Bytes known to be on the server (for the "stopped at 45 %" line). */
  offset: number;
}

import type { FileEnvelope } from './envelope.ts';

const JOBS = 'beatsync.jobs';
const HIDDEN = 'beatsync.hidden';
const SLOT = (slot: string): string => `beatsync.upload.${slot}`;
const ENV = (fileId: string): string => `beatsync.env.${fileId}`;
const ENV_INDEX = 'beatsync.env-index';

function read<T>(key: string, fallback: T): T {
  try {
    const text = localStorage.getItem(key);
    return text === null ? fallback : (JSON.parse(text) as T);
  } catch {
    return fallback;
  }
}

function write(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Full or blocked storage only costs resumability, never the upload itself.
  }
}

export const savedJobs = (): SavedJob[] => read<SavedJob[]>(JOBS, []);

export function rememberJob(job: SavedJob): void {
  const jobs = savedJobs().filter((j) => j.id !== job.id);
  jobs.unshift(job);
  write(JOBS, jobs.slice(0, 100));
}

export function savedJob(id: string): SavedJob | null {
  return savedJobs().find((j) => j.id === id) ?? null;
}

export const hiddenJobs = (): Set<string> => new Set(read<string[]>(HIDDEN, []));

export function hideJob(id: string): void {
  write(HIDDEN, [...hiddenJobs(), id].slice(-500));
  write(JOBS, savedJobs().filter((j) => j.id !== id));
}

export const savedUpload = (slot: string): SavedUpload | null => read<SavedUpload | null>(SLOT(slot), null);
export const saveUpload = (slot: string, value: SavedUpload | null): void => (value ? write(SLOT(slot), value) : localStorage.removeItem(SLOT(slot)));

/** Same name, size and modification time: the same file picked again after a reload. */
export function fingerprintOf(file: File): string {
  return `${file.name}|${file.size}|${file.lastModified}`;
}

export const savedEnvelope = (fileId: string): FileEnvelope | null => read<FileEnvelope | null>(ENV(fileId), null);

/** Keeps the envelopes of the 24 most recent files (each at most a few tens of KB). */
export function saveEnvelope(fileId: string, env: FileEnvelope): void {
  const index = read<string[]>(ENV_INDEX, []).filter((id) => id !== fileId);
  index.push(fileId);
  while (index.length > 24) localStorage.removeItem(ENV(index.shift()!));
  write(ENV_INDEX, index);
  write(ENV(fileId), env);
}
