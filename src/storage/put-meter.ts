// What every FileStore.put does to the bytes on their way in, whatever the backend: count them, hash
// them (sha256) and stop with FILE_TOO_LARGE as soon as they pass the limit.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { BeatSyncError } from '../errors.ts';
import type { PutResult } from './types.ts';

export class PutMeter {
  size = 0;
  private readonly maxBytes: number | undefined;
  private readonly hash: Hash = createHash('sha256');

  /** BAD_REQUEST unless `maxBytes` is absent or a finite number >= 0. */
  constructor(maxBytes?: number) {
    if (maxBytes !== undefined && !(Number.isFinite(maxBytes) && maxBytes >= 0)) throw new BeatSyncError('BAD_REQUEST', 'maxBytes must be >= 0');
    this.maxBytes = maxBytes;
  }

  /** Counts and hashes one chunk; throws FILE_TOO_LARGE (before hashing it) once the total passes the limit. */
  add(bytes: Uint8Array): void {
    this.size += bytes.byteLength;
    if (this.maxBytes !== undefined && this.size > this.maxBytes) throw new BeatSyncError('FILE_TOO_LARGE', `more than ${this.maxBytes} bytes`);
    this.hash.update(bytes);
  }

  result(key: string): PutResult {
    return { key, size: this.size, sha256: this.hash.digest('hex') };
  }
}

/** The error a put stops with when its signal aborts without a reason of its own. */
export function abortError(): Error {
  const err = new Error('The operation was aborted');
  err.name = 'AbortError';
  return err;
}
