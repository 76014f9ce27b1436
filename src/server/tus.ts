// The core of tus 1.0 resumable uploads, kept in the FileStore so that any API node can continue an upload:
// tus/<id>/info.json describes it and every PATCH adds one part object tus/<id>/part-<offset>. The offset is
// where the contiguous parts end, so a PATCH cut off midway still keeps what arrived. When the last byte
// arrives the parts are streamed into the upload service (probe + checks) and the tus id becomes the fileId.
import { BeatSyncError } from '../errors.ts';
import { readStoredJson, writeStoredJson } from '../storage/json.ts';
import type { FileStore, UploadMeta } from '../storage/types.ts';
import { newFileId } from './uploads.ts';
import type { LocalUploadService } from './uploads.ts';

export interface TusInfo {
  id: string;
  owner: string | null;
  length: number;
  filename: string;
  purpose: 'dance' | 'bgm' | null;
  createdAt: number;
  expiresAt: number;
  /** Set once complete and accepted (equal to id). */
  fileId: string | null;
}

const PREFIX = 'tus/';
const infoKey = (id: string): string => `${PREFIX}${id}/info.json`;
const partKey = (id: string, offset: number): string => `${PREFIX}${id}/part-${String(offset).padStart(16, '0')}`;
const PART = /\/part-(\d{16})$/;

/** "filename ZG9nLm1wNA==,purpose ZGFuY2U=" → { filename: 'dog.mp4', purpose: 'dance' }; BAD_REQUEST when malformed. */
export function parseUploadMetadata(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const pair of header.split(',')) {
    const [key, value, extra] = pair.trim().split(' ');
    if (!key || extra !== undefined || !/^[\x21-\x7e]+$/.test(key) || (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value))) {
      throw new BeatSyncError('BAD_REQUEST', 'malformed Upload-Metadata');
    }
    out[key] = value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8');
  }
  return out;
}

/** Reads a request body to its end, or to where the client went away: a dropped connection is the end of this PATCH, not an error. */
export async function* untilDisconnect(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of source) yield chunk;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECONNRESET' || code === 'ECONNABORTED' || (error as Error).message === 'aborted') return;
    throw error;
  }
}

export class TusUploads {
  private readonly files: FileStore;
  private readonly uploads: LocalUploadService;
  private readonly expiryMs: number;
  /** PATCHes in progress on this node (a second one at the same time is a CONFLICT, as tus asks). */
  private readonly busy = new Set<string>();

  constructor(options: { files: FileStore; uploads: LocalUploadService; expirySeconds: number }) {
    this.files = options.files;
    this.uploads = options.uploads;
    this.expiryMs = options.expirySeconds * 1000;
  }

  async create(owner: string | null, length: number, metadata: Record<string, string>): Promise<TusInfo> {
    const purpose = metadata.purpose ?? metadata.kind;
    const now = Date.now();
    const info: TusInfo = {
      id: newFileId(),
      owner,
      length,
      filename: metadata.filename ?? metadata.name ?? '',
      purpose: purpose === 'dance' || purpose === 'bgm' ? purpose : null,
      createdAt: now,
      expiresAt: now + this.expiryMs,
      fileId: null,
    };
    await this.writeInfo(info);
    try {
      await this.uploads.reserve(owner, info.id, length);
    } catch (error) {
      await this.remove(info.id);
      throw error;
    }
    return info;
  }

  /** The upload if it exists, is not expired, and `who` may see it; otherwise NOT_FOUND. */
  async get(id: string, who: { owner: string | null; isAdmin: boolean }): Promise<TusInfo> {
    const info = /^[A-Za-z0-9_-]{22}$/.test(id) ? await this.readInfo(id) : null;
    if (!info || (!who.isAdmin && info.owner !== who.owner)) throw new BeatSyncError('NOT_FOUND', 'no such resumable upload');
    if (info.fileId === null && info.expiresAt <= Date.now()) {
      await this.remove(id, info);
      throw new BeatSyncError('NOT_FOUND', 'the resumable upload has expired');
    }
    return info;
  }

  /** Bytes received so far: the end of the contiguous run of parts from 0. */
  async offset(info: TusInfo): Promise<number> {
    if (info.fileId !== null) return info.length;
    return (await this.contiguousParts(info.id)).end;
  }

  /**
   * Appends the body at `offset` (which must be where the upload stands: CONFLICT otherwise). Returns the new
   * offset and, when that completes the upload, the accepted upload (or throws its probe/check error, the tus
   * upload then being removed).
   */
  async append(info: TusInfo, offset: number, body: AsyncIterable<Uint8Array>): Promise<{ offset: number; upload: UploadMeta | null }> {
    if (info.fileId !== null) throw new BeatSyncError('CONFLICT', 'the upload is already complete');
    if (this.busy.has(info.id)) throw new BeatSyncError('CONFLICT', 'another PATCH of this upload is in progress');
    this.busy.add(info.id);
    try {
      const current = await this.offset(info);
      if (offset !== current) throw new BeatSyncError('CONFLICT', `Upload-Offset ${offset} does not match ${current}`);
      const key = partKey(info.id, current);
      const put = await this.files.put(key, untilDisconnect(body), { maxBytes: info.length - current });
      if (put.size === 0) await this.files.delete(key);
      const end = current + put.size;
      if (end < info.length) return { offset: end, upload: null };
      return { offset: end, upload: await this.complete(info) };
    } finally {
      this.busy.delete(info.id);
    }
  }

  /** Removes the upload's objects and, when its record is known, its quota reservation. */
  async remove(id: string, info?: TusInfo | null): Promise<void> {
    const known = info ?? (await this.readInfo(id).catch(() => null));
    if (known && known.fileId === null) await this.uploads.release(known.owner, id, known.length);
    for await (const object of this.files.list(`${PREFIX}${id}/`)) await this.files.delete(object.key);
  }

  /** Deletes expired unfinished uploads and the records of finished ones past expiry; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    const ids = new Set<string>();
    for await (const object of this.files.list(PREFIX)) ids.add(object.key.slice(PREFIX.length).split('/')[0]);
    let removed = 0;
    for (const id of ids) {
      const info = await this.readInfo(id).catch(() => null);
      if (info && info.expiresAt > now) continue;
      if (!info && !(await this.olderThanExpiry(id, now))) continue; // being created right now
      await this.remove(id, info);
      removed++;
    }
    return removed;
  }

  private async complete(info: TusInfo): Promise<UploadMeta> {
    const { parts } = await this.contiguousParts(info.id);
    const files = this.files;
    async function* joined(): AsyncGenerator<Uint8Array> {
      for (const part of parts) yield* (await files.read(part)) as AsyncIterable<Uint8Array>;
    }
    let meta: UploadMeta;
    // The reservation ends before the upload is counted as a file, or saveAs would count it twice.
    await this.uploads.release(info.owner, info.id, info.length);
    try {
      meta = await this.uploads.saveAs(info.id, joined(), { owner: info.owner, filename: info.filename, purpose: info.purpose ?? undefined }, 'tus');
    } catch (error) {
      await this.remove(info.id, info);
      throw error;
    }
    // Keep only the record, so a client asking again after a lost answer learns the fileId.
    for (const part of parts) await this.files.delete(part);
    await this.writeInfo({ ...info, fileId: meta.fileId });
    return meta;
  }

  private async contiguousParts(id: string): Promise<{ end: number; parts: string[] }> {
    const found: { offset: number; key: string; size: number }[] = [];
    for await (const object of this.files.list(`${PREFIX}${id}/part-`)) {
      const m = PART.exec(object.key);
      if (m) found.push({ offset: Number(m[1]), key: object.key, size: object.size });
    }
    found.sort((a, b) => a.offset - b.offset);
    let end = 0;
    const parts: string[] = [];
    for (const part of found) {
      if (part.offset !== end) break;
      end += part.size;
      parts.push(part.key);
    }
    return { end, parts };
  }

  private async readInfo(id: string): Promise<TusInfo | null> {
    if (!(await this.files.stat(infoKey(id)))) return null;
    return (await readStoredJson(this.files, infoKey(id))) as TusInfo;
  }

  private async writeInfo(info: TusInfo): Promise<void> {
    await writeStoredJson(this.files, infoKey(info.id), info);
  }

  private async olderThanExpiry(id: string, now: number): Promise<boolean> {
    for await (const object of this.files.list(`${PREFIX}${id}/`)) {
      if (object.mtimeMs > now - this.expiryMs) return false;
    }
    return true;
  }
}
