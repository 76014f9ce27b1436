// The upload service: streams a file into the store (size limit while streaming, sha256 on the fly), probes it,
// applies the product's checks and keeps uploads/<fileId>/meta.json beside it. A refused file leaves nothing behind.
// Per-token storage is counted from empty marker objects (quota/<owner>/<fileId>.<size>), so any API node can
// count it without shared memory; a marker whose upload retention has deleted stops counting (the janitor removes it).
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { BeatSyncError, toBeatSyncError } from '../errors.ts';
import { checkBgmInput, checkDanceInput, probeMedia } from '../media/index.ts';
import type { MediaInfo } from '../media/types.ts';
import { readStoredJson, writeStoredJson } from '../storage/json.ts';
import type { FileStore, UploadMeta } from '../storage/types.ts';
import { parseQuotaMarker, QUOTA_PREFIX, quotaMarkerKey, uploadDataKey, uploadMetaKey } from '../storage/types.ts';
import { ADMIN_OWNER } from './auth.ts';
import type { ServerConfig } from './config.ts';
import type { SaveUploadOptions, UploadService } from './context.ts';
import { uploadFault } from './errors.ts';
import { sanitizeFilename } from './filename.ts';
import type { ServerMetrics } from './metrics.ts';

const FILE_ID = /^[A-Za-z0-9_-]{22}$/;
const MAX_RAW_NAME = 1024;

export function newFileId(): string {
  return randomBytes(16).toString('base64url');
}

export function isFileId(value: string): boolean {
  return FILE_ID.test(value);
}

export interface UploadServiceDeps {
  files: FileStore;
  config: Pick<ServerConfig, 'maxUploadBytes' | 'maxDurationSeconds' | 'quota'>;
  metrics?: Pick<ServerMetrics, 'uploadBytes' | 'uploadsRejected'>;
}

export interface LocalUploadService extends UploadService {
  /** save() with an id chosen by the caller (the tus module reuses its upload id) and a label for metrics. */
  saveAs(fileId: string, source: Readable | AsyncIterable<Uint8Array>, options: SaveUploadOptions, via: string): Promise<UploadMeta>;
  /** Counts an unfinished resumable upload's whole length against its owner's quota from its creation. */
  reserve(owner: string | null, id: string, length: number): Promise<void>;
  /** Ends a reservation (the upload completed, was abandoned or expired). */
  release(owner: string | null, id: string, length: number): Promise<void>;
}

/**
 * Reservations of unfinished tus uploads: reserved/<owner>/<tusId>.<length>, counted while tus/<tusId>/info.json
 * exists (an expired upload's sweep removes it; the reservation goes with the next count).
 */
const RESERVED_PREFIX = 'reserved/';
const reservationKey = (owner: string, id: string, length: number): string => `${RESERVED_PREFIX}${owner}/${id}.${length}`;
const tusInfoKey = (id: string): string => `tus/${id}/info.json`;

export function createUploadService(deps: UploadServiceDeps): LocalUploadService {
  const { files, config, metrics } = deps;

  const quotaPrefix = (owner: string): string => `${QUOTA_PREFIX}${owner}/`;
  const counted = (owner: string | null): owner is string => owner !== null && owner !== ADMIN_OWNER;

  async function usage(owner: string): Promise<number> {
    let total = 0;
    for await (const marker of files.list(quotaPrefix(owner))) {
      const parsed = parseQuotaMarker(marker.key);
      if (!parsed) continue;
      // Retention deletes uploads; their markers go with the next count (or the janitor's next pass).
      if (!(await files.stat(uploadDataKey(parsed.fileId)))) await files.delete(marker.key).catch(() => undefined);
      else total += parsed.size;
    }
    for await (const marker of files.list(`${RESERVED_PREFIX}${owner}/`)) {
      const match = /\/([A-Za-z0-9_-]+)\.(\d+)$/.exec(marker.key);
      if (!match) continue;
      if (!(await files.stat(tusInfoKey(match[1])))) await files.delete(marker.key).catch(() => undefined);
      else total += Number(match[2]);
    }
    return total;
  }

  async function allowance(owner: string | null): Promise<number> {
    if (!counted(owner)) return Number.POSITIVE_INFINITY;
    return Math.max(0, config.quota.storageBytes - (await usage(owner)));
  }

  async function saveAs(
    fileId: string,
    source: Readable | AsyncIterable<Uint8Array>,
    options: SaveUploadOptions,
    via: string,
  ): Promise<UploadMeta> {
    const dataKey = uploadDataKey(fileId);
    let stored = false;
    try {
      // No real file system allows such names; in multipart it also means the part header was cut at its size limit.
      if (options.filename.length > MAX_RAW_NAME) throw new BeatSyncError('BAD_REQUEST', 'file name (or multipart part header) too long');
      const limit = Math.min(options.maxBytes ?? config.maxUploadBytes, config.maxUploadBytes);
      const left = await allowance(options.owner);
      if (left <= 0) throw new BeatSyncError('RESOURCE_LIMIT', 'storage quota of this token is used up');
      const maxBytes = Math.min(limit, left);
      let put;
      try {
        put = await files.put(dataKey, source, { maxBytes, signal: options.signal });
      } catch (error) {
        const e = toBeatSyncError(error);
        if (e.code === 'FILE_TOO_LARGE' && maxBytes < limit) throw new BeatSyncError('RESOURCE_LIMIT', 'the upload would exceed the storage quota of this token');
        throw e;
      }
      stored = true;
      if (put.size === 0) throw new BeatSyncError('INVALID_FORMAT', 'the file is empty (0 bytes)');
      const media = await probeMedia(await files.localPath(dataKey), { signal: options.signal });
      checkMedia(media, options.legacyType ?? options.purpose, config.maxDurationSeconds);

      const meta: UploadMeta = {
        fileId,
        owner: options.owner,
        filename: sanitizeFilename(options.filename),
        size: put.size,
        sha256: put.sha256,
        kind: media.kind,
        durationSeconds: media.durationSeconds,
        media,
        createdAt: Date.now(),
      };
      if (options.legacyType) meta.legacyType = options.legacyType;
      await writeStoredJson(files, uploadMetaKey(fileId), meta);
      if (counted(options.owner)) await files.put(quotaMarkerKey(options.owner, fileId, put.size), Readable.from([Buffer.alloc(0)]));
      metrics?.uploadBytes.inc({ via }, put.size);
      return meta;
    } catch (error) {
      const e = uploadFault(error) ?? toBeatSyncError(error);
      metrics?.uploadsRejected.inc({ code: e.code });
      if (stored) await files.delete(dataKey).catch(() => undefined);
      throw e;
    }
  }

  return {
    allowance,
    saveAs,
    async reserve(owner, id, length) {
      if (counted(owner)) await files.put(reservationKey(owner, id, length), Readable.from([Buffer.alloc(0)]));
    },
    async release(owner, id, length) {
      if (counted(owner)) await files.delete(reservationKey(owner, id, length)).catch(() => undefined);
    },
    save: (source, options) => saveAs(newFileId(), source, options, 'multipart'),
    async get(fileId, owner, isAdmin) {
      if (!isFileId(fileId)) throw new BeatSyncError('NOT_FOUND', 'no such upload');
      const meta = await readMeta(files, fileId);
      // Someone else's upload answers exactly like a missing one.
      if (!meta || (!isAdmin && meta.owner !== owner)) throw new BeatSyncError('NOT_FOUND', 'no such upload');
      if (!(await files.stat(uploadDataKey(fileId)))) throw new BeatSyncError('NOT_FOUND', 'the upload has expired');
      return meta;
    },
  };
}

/** The product's checks on top of probing: a sound track, the duration limit, and the dance/bgm rules when the purpose is known. */
function checkMedia(media: MediaInfo, purpose: 'dance' | 'bgm' | undefined, maxDurationSeconds: number): void {
  const limits = { maxDurationSeconds };
  if (purpose === 'dance') checkDanceInput(media, limits);
  else checkBgmInput(media, limits); // both roles need sound: the dance file to be aligned, the song to be used
}

async function readMeta(files: FileStore, fileId: string): Promise<UploadMeta | null> {
  if (!(await files.stat(uploadMetaKey(fileId)))) return null;
  return (await readStoredJson(files, uploadMetaKey(fileId))) as UploadMeta;
}
