// FileStore on S3-compatible object storage (AWS SDK v3), so API and worker nodes on different machines
// share uploads and outputs. Writes stream through (multipart for large objects) to the final key: S3
// makes an object visible only when its PUT or CompleteMultipartUpload succeeds, so a half-written
// object is never seen; an error or the size limit aborts the upload and leaves nothing. ffmpeg gets a
// local copy from a download cache (see localPath).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BeatSyncError, toBeatSyncError } from '../errors.ts';
import { validateKey } from './local.ts';
import { PutMeter, abortError } from './put-meter.ts';
import { TEMP_PREFIX } from './types.ts';
import type { FileStore, PutResult, StoredObject } from './types.ts';

export interface S3FileStoreOptions {
  bucket: string;
  region?: string;
  /** For S3-compatible servers (MinIO, Garage, Ceph…): their URL. Omit for AWS. */
  endpoint?: string;
  /** Path-style URLs (needed by most S3-compatible servers). */
  forcePathStyle?: boolean;
  /** Keys are stored under this prefix in the bucket ('' = bucket root). */
  prefix?: string;
  /** Omit to use the SDK's chain (AWS_ACCESS_KEY_ID…, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Where localPath() keeps downloads for ffmpeg. */
  cacheDir?: string;
  /** Local copies unused this long are removed. */
  cacheMaxAgeMs?: number;
  /** Multipart part size (≥ 5 MiB). */
  partSize?: number;
}

const MIB = 1024 * 1024;
const CACHE_SWEEP_EVERY_MS = 60_000;

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

export class S3FileStore implements FileStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly cacheDir: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly cacheMaxAgeMs: number;
  private lastSweep = 0;

  constructor(options: S3FileStoreOptions) {
    if (!options.bucket) throw new BeatSyncError('BAD_REQUEST', 'an S3 bucket is required');
    this.bucket = options.bucket;
    this.prefix = options.prefix ? options.prefix.replace(/\/*$/, '/') : '';
    this.cacheDir = options.cacheDir ?? join(tmpdir(), 'beatsync-s3-cache');
    this.cacheMaxAgeMs = options.cacheMaxAgeMs ?? 3600_000;
    this.partSize = Math.max(5 * MIB, options.partSize ?? 8 * MIB);
    this.client = new S3Client({
      region: options.region ?? 'us-east-1',
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? Boolean(options.endpoint),
      credentials: options.credentials,
      // Plain payload hashing: S3-compatible servers do not all speak the newer streamed checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, source: Readable | AsyncIterable<Uint8Array>, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<PutResult> {
    this.writableKey(key);
    const { signal } = options;
    const counted = new PutMeter(options.maxBytes);
    signal?.throwIfAborted();
    // Counts, hashes and enforces the limit while the bytes pass, before any part is sent.
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        try {
          counted.add(chunk);
        } catch (err) {
          done(err as Error);
          return;
        }
        done(null, chunk);
      },
    });
    const body = new PassThrough();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.objectKey(key), Body: body },
      partSize: this.partSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const onAbort = () => {
      const reason = signal?.reason instanceof Error ? signal.reason : abortError();
      if (source instanceof Readable) source.destroy(reason);
      meter.destroy(reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const feeding = pipeline(Readable.from(source as AsyncIterable<Uint8Array>), meter, body);
    try {
      // If feeding fails, the upload is aborted (nothing becomes visible) and the feeding error wins.
      const sent = upload.done();
      try {
        await feeding;
      } catch (err) {
        await upload.abort().catch(() => {});
        await sent.catch(() => {});
        throw err;
      }
      await sent;
    } catch (err) {
      if (source instanceof Readable && !source.destroyed) source.destroy();
      throw toBeatSyncError(err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return counted.result(key);
  }

  /** Uploads a finished local file, then removes it (the source is consumed, as with the local store). */
  async putFile(key: string, localPath: string): Promise<PutResult> {
    this.writableKey(key);
    const info = await stat(localPath).catch(() => null);
    if (!info || !info.isFile()) throw new BeatSyncError('FILE_NOT_FOUND', 'source file missing');
    const result = await this.put(key, createReadStream(localPath));
    await unlink(localPath).catch(() => {});
    return result;
  }

  /**
   * A local copy for ffmpeg: downloaded once into the cache (temp + rename, so a concurrent reader
   * never sees half a file) and reused while the object's size and time match.
   */
  async localPath(key: string): Promise<string> {
    validateKey(key);
    const info = await this.stat(key);
    if (!info) throw new BeatSyncError('FILE_NOT_FOUND', key);
    await mkdir(this.cacheDir, { recursive: true });
    void this.sweepCache();
    const name = `${createHash('sha256').update(`${this.bucket}/${this.objectKey(key)}`).digest('hex').slice(0, 32)}-${info.size}-${Math.round(info.mtimeMs)}`;
    const path = join(this.cacheDir, name + extensionOf(key));
    const cached = await stat(path).catch(() => null);
    if (cached?.size === info.size) return path;
    const temp = join(this.cacheDir, `.${name}-${randomBytes(6).toString('hex')}.part`);
    try {
      await pipeline(await this.read(key), createWriteStream(temp, { flags: 'wx' }));
      await rename(temp, path);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw toBeatSyncError(err);
    }
    return path;
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    validateKey(key);
    let rangeHeader: string | undefined;
    if (range) {
      const info = await this.stat(key);
      if (!info) throw new BeatSyncError('FILE_NOT_FOUND', key);
      const { start, end } = range;
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end >= info.size) {
        throw new BeatSyncError('BAD_REQUEST', `range ${start}-${end} outside 0-${info.size - 1}`);
      }
      rangeHeader = `bytes=${start}-${end}`;
    }
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Range: rangeHeader }));
      const body = out.Body;
      if (!(body instanceof Readable)) throw new BeatSyncError('PROCESSING_FAILED', 'object storage returned no stream');
      return body;
    } catch (err) {
      if (isNotFound(err)) throw new BeatSyncError('FILE_NOT_FOUND', key);
      throw toBeatSyncError(err);
    }
  }

  async stat(key: string): Promise<StoredObject | null> {
    validateKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return { key, size: Number(out.ContentLength ?? 0), mtimeMs: out.LastModified?.getTime() ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw toBeatSyncError(err);
    }
  }

  async copy(from: string, to: string): Promise<void> {
    validateKey(from);
    this.writableKey(to);
    try {
      // Server-side copy: no bytes pass through this node; the new object appears whole or not at all.
      await this.client.send(new CopyObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(to),
        CopySource: encodeURI(`${this.bucket}/${this.objectKey(from)}`),
      }));
    } catch (err) {
      if (isNotFound(err)) throw new BeatSyncError('FILE_NOT_FOUND', from);
      throw toBeatSyncError(err);
    }
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      if (!isNotFound(err)) throw toBeatSyncError(err);
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    if (typeof prefix !== 'string' || prefix.startsWith('/') || prefix.includes('\\') || [...prefix].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
      throw new BeatSyncError('BAD_REQUEST', 'invalid storage prefix');
    }
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }));
      } catch (err) {
        throw toBeatSyncError(err);
      }
      for (const o of out.Contents ?? []) {
        if (!o.Key) continue;
        yield { key: o.Key.slice(this.prefix.length), size: Number(o.Size ?? 0), mtimeMs: o.LastModified?.getTime() ?? 0 };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  /** Object storage has no meaningful free space: null, after checking the bucket answers (readiness). */
  async freeBytes(): Promise<number | null> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw new BeatSyncError('RESOURCE_LIMIT', `object storage bucket ${this.bucket} unreachable: ${(err as Error).message}`, { cause: err });
    }
    return null;
  }

  /** A time-limited URL the client downloads from directly (the API stays out of the byte path). */
  async presignedUrl(key: string, options: { filename?: string; inline?: boolean; contentType?: string; expiresSeconds?: number } = {}): Promise<string> {
    validateKey(key);
    const disposition = options.filename
      ? `${options.inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(options.filename)}`
      : undefined;
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.objectKey(key),
      ResponseContentDisposition: disposition,
      ResponseContentType: options.contentType,
    });
    return getSignedUrl(this.client, command, { expiresIn: options.expiresSeconds ?? 900 });
  }

  /** Removes this process's cached copy of one object (after a job no longer needs it). */
  async evictLocal(key: string): Promise<void> {
    const names = await readdir(this.cacheDir).catch(() => [] as string[]);
    const stem = createHash('sha256').update(`${this.bucket}/${this.objectKey(key)}`).digest('hex').slice(0, 32);
    await Promise.all(names.filter((n) => n.startsWith(stem)).map((n) => rm(join(this.cacheDir, n), { force: true })));
  }

  close(): void {
    this.client.destroy();
  }

  // ---- internals ----

  private objectKey(key: string): string {
    return this.prefix + key;
  }

  private writableKey(key: string): void {
    validateKey(key);
    if (key.startsWith(TEMP_PREFIX)) throw new BeatSyncError('BAD_REQUEST', 'tmp/ is reserved for unfinished writes');
  }

  /** Drops cached copies not used for cacheMaxAgeMs (at most once a minute). */
  private async sweepCache(): Promise<void> {
    const now = Date.now();
    if (now - this.lastSweep < CACHE_SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    for (const name of await readdir(this.cacheDir).catch(() => [] as string[])) {
      const path = join(this.cacheDir, name);
      const info = await stat(path).catch(() => null);
      if (info && now - Math.max(info.atimeMs, info.mtimeMs) > this.cacheMaxAgeMs) await rm(path, { force: true }).catch(() => {});
    }
  }
}

function extensionOf(key: string): string {
  const match = /\.[A-Za-z0-9]{1,5}$/.exec(key);
  return match ? match[0] : '';
}

