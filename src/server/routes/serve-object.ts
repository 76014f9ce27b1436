// Sends a stored object over HTTP the way players and download managers expect:
// byte ranges (206/416), a strong ETag with If-None-Match/If-Range, and a Content-Disposition
// whose file name says what the file is. Used by the download and the compatibility routes.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BeatSyncError } from '../../errors.ts';
import type { FileStore, StoredObject } from '../../storage/types.ts';

export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Reads a `Range` header against an object of `size` bytes.
 * Returns null when the header should be ignored (absent, malformed, several ranges: we answer 200),
 * 'unsatisfiable' for a 416, or the one inclusive range to send.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null; // other units, several ranges or garbage: serve the whole object
  const [, first, last] = m;
  if (first === '' && last === '') return null;
  if (first === '') {
    // Suffix range: the last N bytes.
    const n = Number(last);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  let end = last === '' ? Number.MAX_SAFE_INTEGER : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return null;
  if (start >= size) return 'unsatisfiable';
  if (end >= size) end = size - 1;
  return { start, end };
}

/** A strong validator from size and modification time (good enough: outputs are written once, atomically). */
export function etagFor(obj: Pick<StoredObject, 'size' | 'mtimeMs'>): string {
  return `"${obj.size.toString(16)}-${Math.floor(obj.mtimeMs).toString(16)}"`;
}

/** True when an If-None-Match header (a list, or `*`) names this ETag (weak comparison, as RFC 9110 asks). */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === bare;
  });
}

/**
 * `inline` or `attachment` with an ASCII fallback name and, when the name is not plain ASCII,
 * an RFC 5987 `filename*` so browsers show the real one.
 */
export function contentDisposition(fileName: string, attachment: boolean): string {
  const type = attachment ? 'attachment' : 'inline';
  const fallback = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  const needsExtended = fallback !== fileName;
  let value = `${type}; filename="${fallback}"`;
  if (needsExtended) {
    const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    value += `; filename*=UTF-8''${encoded}`;
  }
  return value;
}

/** Turns a user's original file name into a short, safe stem for output names ("Class 3 — Jazz.MOV" → "Class 3 — Jazz"). */
export function fileStem(original: string | null | undefined): string {
  const base = (original ?? '').split(/[\\/]/).pop() ?? '';
  const stem = base
    .replace(/\.[^.]{1,8}$/, '')
    .replace(/[\p{Cc}\p{Cf}"*:<>?|]/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
  const short = Array.from(stem).slice(0, 80).join('');
  return short === '' || /^\.+$/.test(short) ? 'video' : short;
}

export interface ServeOptions {
  key: string;
  fileName: string;
  contentType: string;
  attachment: boolean;
}

/** Answers GET and HEAD for one stored object; throws NOT_FOUND when it is gone (retention removed it). */
export async function serveObject(files: FileStore, request: FastifyRequest, reply: FastifyReply, opts: ServeOptions): Promise<FastifyReply> {
  const obj = await files.stat(opts.key);
  if (!obj) throw new BeatSyncError('NOT_FOUND', 'output no longer stored');
  const etag = etagFor(obj);
  const lastModified = new Date(Math.floor(obj.mtimeMs / 1000) * 1000).toUTCString();
  reply
    .header('accept-ranges', 'bytes')
    .header('etag', etag)
    .header('last-modified', lastModified)
    .header('cache-control', 'private, max-age=0, must-revalidate')
    .header('content-disposition', contentDisposition(opts.fileName, opts.attachment))
    .header('x-content-type-options', 'nosniff')
    .type(opts.contentType);

  if (etagMatches(request.headers['if-none-match'], etag)) {
    return reply.code(304).send();
  }

  let range = parseRange(request.headers.range, obj.size);
  const ifRange = request.headers['if-range'];
  if (range !== null && typeof ifRange === 'string' && !ifRangeHolds(ifRange, etag, obj.mtimeMs)) {
    range = null; // the client's partial copy is stale: send the whole new object
  }
  if (range === 'unsatisfiable') {
    return reply.code(416).header('content-range', `bytes */${obj.size}`).header('content-length', '0').send();
  }

  const status = range ? 206 : 200;
  const length = range ? range.end - range.start + 1 : obj.size;
  reply.code(status).header('content-length', String(length));
  if (range) reply.header('content-range', `bytes ${range.start}-${range.end}/${obj.size}`);
  if (request.method === 'HEAD' || length === 0) return reply.send();
  const stream = await files.read(opts.key, range ?? undefined);
  return reply.send(stream);
}

function ifRangeHolds(ifRange: string, etag: string, mtimeMs: number): boolean {
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return v === etag; // strong comparison only
  const date = Date.parse(v);
  return Number.isFinite(date) && Math.floor(mtimeMs / 1000) * 1000 <= date;
}
