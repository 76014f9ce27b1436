// Where uploads and outputs live: a local directory now, S3-compatible object storage later.
// Keys are relative, '/'-separated, made by the product (never from user input).
import type { Readable } from 'node:stream';
import type { MediaInfo } from '../media/types.ts';

export interface StoredObject {
  key: string;
  size: number;
  mtimeMs: number;
}

export interface PutResult {
  key: string;
  size: number;
  sha256: string;
}

export interface FileStore {
  /**
   * Streams into a temporary object, then makes it visible atomically under `key`
   * (temp + fsync + rename locally). Throws FILE_TOO_LARGE past maxBytes, leaving nothing behind.
   */
  put(key: string, source: Readable | AsyncIterable<Uint8Array>, options?: { maxBytes?: number; signal?: AbortSignal }): Promise<PutResult>;
  /** Moves (or copies) a finished local file in, atomically. */
  putFile(key: string, localPath: string): Promise<PutResult>;
  /**
   * Makes `to` an independent object with the bytes of `from`, atomically (a hard link locally,
   * a server-side copy in object storage). FILE_NOT_FOUND when `from` is gone.
   */
  copy(from: string, to: string): Promise<void>;
  /** A readable local path for ffmpeg (object storage downloads into a cache first). */
  localPath(key: string): Promise<string>;
  /** Byte range is inclusive, as in HTTP. */
  read(key: string, range?: { start: number; end: number }): Promise<Readable>;
  stat(key: string): Promise<StoredObject | null>;
  delete(key: string): Promise<void>;
  /** Every object under a prefix. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /** Free bytes where objects are written (for admission control and readiness), null when unknown. */
  freeBytes(): Promise<number | null>;
}

/** What the product knows of an upload; kept next to it as uploads/<fileId>/meta.json. */
export interface UploadMeta {
  fileId: string;
  owner: string | null;
  /** Sanitised original name, for display and output names only. */
  filename: string;
  size: number;
  sha256: string;
  kind: 'video' | 'audio';
  durationSeconds: number;
  media: MediaInfo;
  createdAt: number;
  /** Set by the old-client compatibility routes. */
  legacyType?: 'dance' | 'bgm';
}

export const uploadDataKey = (fileId: string): string => `uploads/${fileId}/data`;
export const uploadMetaKey = (fileId: string): string => `uploads/${fileId}/meta.json`;
export const outputKey = (jobId: string, file: string): string => `outputs/${jobId}/${file}`;

/**
 * Per-token storage is counted from empty marker objects quota/<owner>/<fileId>.<size> (the upload
 * service writes one after each upload; the janitor removes those whose upload is gone).
 */
export const QUOTA_PREFIX = 'quota/';
export const quotaMarkerKey = (owner: string, fileId: string, size: number): string => `${QUOTA_PREFIX}${owner}/${fileId}.${size}`;

/** The upload id and size a marker key names, null when the key is not a marker. */
export function parseQuotaMarker(key: string): { fileId: string; size: number } | null {
  const match = /^.+\/([^/.]+)\.(\d+)$/.exec(key.startsWith(QUOTA_PREFIX) ? key.slice(QUOTA_PREFIX.length) : '');
  return match ? { fileId: match[1], size: Number(match[2]) } : null;
}

/** Where unfinished writes live until they are renamed into place; the janitor sweeps old ones. */
export const TEMP_PREFIX = 'tmp/';
