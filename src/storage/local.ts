// FileStore on a local directory. A write is never visible half-done: it streams into tmp/ under the
// same root (same filesystem), is fsynced, renamed into place, and the directory is fsynced.
import { createReadStream } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readdir, rename, rmdir, statfs, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { BeatSyncError, toBeatSyncError } from '../errors.ts';
import { PutMeter, abortError } from './put-meter.ts';
import { TEMP_PREFIX } from './types.ts';
import type { FileStore, PutResult, StoredObject } from './types.ts';


const MAX_KEY_LENGTH = 1024;

function hasControlChar(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Throws BAD_REQUEST unless `key` is a plain relative '/'-separated path (no '..', no absolute, no control chars). */
export function validateKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) throw new BeatSyncError('BAD_REQUEST', 'invalid storage key');
  if (hasControlChar(key) || key.includes('\\') || key.startsWith('/')) throw new BeatSyncError('BAD_REQUEST', 'invalid storage key');
  for (const part of key.split('/')) {
    if (part === '' || part === '.' || part === '..') throw new BeatSyncError('BAD_REQUEST', 'invalid storage key');
  }
  return key;
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

export class LocalFileStore implements FileStore {
  readonly rootDir: string;
  private readonly tempDir: string;

  constructor(rootDir: string) {
    this.rootDir = resolve(rootDir);
    this.tempDir = join(this.rootDir, 'tmp');
  }

  async put(key: string, source: Readable | AsyncIterable<Uint8Array>, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<PutResult> {
    const target = this.pathOf(this.writableKey(key));
    const { signal } = options;
    const meter = new PutMeter(options.maxBytes);
    const temp = await this.openTemp();
    // Destroying a Readable wakes a pending read, so an abort does not wait for the next chunk.
    const onAbort = () => {
      if (source instanceof Readable) source.destroy(signal?.reason instanceof Error ? signal.reason : abortError());
    };
    try {
      signal?.throwIfAborted();
      signal?.addEventListener('abort', onAbort, { once: true });
      for await (const chunk of source) {
        signal?.throwIfAborted();
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        meter.add(bytes);
        await temp.handle.write(bytes);
      }
      signal?.throwIfAborted();
      await temp.handle.sync();
      await temp.handle.close();
      await this.publish(temp.path, target);
    } catch (err) {
      await temp.handle.close().catch(() => {});
      await unlink(temp.path).catch(() => {});
      if (source instanceof Readable && !source.destroyed) source.destroy();
      throw toBeatSyncError(err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return meter.result(key);
  }

  /** Moves a finished local file in (the source path is consumed); copies when it sits on another filesystem. */
  async putFile(key: string, localPath: string): Promise<PutResult> {
    const target = this.pathOf(this.writableKey(key));
    let handle: FileHandle;
    try {
      handle = await open(localPath, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BeatSyncError('FILE_NOT_FOUND', 'source file missing');
      throw toBeatSyncError(err);
    }
    const meter = new PutMeter();
    try {
      for await (const chunk of handle.createReadStream({ autoClose: false })) meter.add(chunk as Buffer);
      // The producer (ffmpeg) may not have synced: make the bytes durable before they get a name.
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await this.publish(localPath, target);
    } catch (err) {
      if (!isErrno(err, 'EXDEV')) throw toBeatSyncError(err);
      const copied = await this.put(key, createReadStream(localPath));
      await unlink(localPath).catch(() => {});
      return copied;
    }
    return meter.result(key);
  }

  async localPath(key: string): Promise<string> {
    const path = this.pathOf(validateKey(key));
    const info = await lstat(path).catch(() => null);
    if (!info || !info.isFile()) throw new BeatSyncError('FILE_NOT_FOUND', key);
    return path;
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const path = this.pathOf(validateKey(key));
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'EISDIR')) throw new BeatSyncError('FILE_NOT_FOUND', key);
      throw toBeatSyncError(err);
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new BeatSyncError('FILE_NOT_FOUND', key);
      if (range) {
        const { start, end } = range;
        if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end >= info.size) {
          throw new BeatSyncError('BAD_REQUEST', `range ${start}-${end} outside 0-${info.size - 1}`);
        }
        return handle.createReadStream({ start, end });
      }
      return handle.createReadStream();
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async stat(key: string): Promise<StoredObject | null> {
    const info = await lstat(this.pathOf(validateKey(key))).catch(() => null);
    if (!info || !info.isFile()) return null;
    return { key, size: info.size, mtimeMs: info.mtimeMs };
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(validateKey(key));
    try {
      await unlink(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw toBeatSyncError(err);
    }
    await this.pruneEmptyDirs(dirname(path));
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    if (typeof prefix !== 'string' || hasControlChar(prefix) || prefix.includes('\\') || prefix.startsWith('/')) {
      throw new BeatSyncError('BAD_REQUEST', 'invalid storage prefix');
    }
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    if (baseKey !== '') validateKey(baseKey);
    yield* this.walk(baseKey, prefix);
  }

  async freeBytes(): Promise<number | null> {
    try {
      await mkdir(this.rootDir, { recursive: true });
      const fs = await statfs(this.rootDir);
      return fs.bavail * fs.bsize;
    } catch {
      return null;
    }
  }

  // ---- internals ----

  async copy(from: string, to: string): Promise<void> {
    validateKey(from);
    const source = this.pathOf(from);
    const target = this.pathOf(this.writableKey(to));
    await mkdir(this.tempDir, { recursive: true });
    const temp = join(this.tempDir, `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}.link`);
    try {
      // Files are never modified in place (only replaced by rename), so a hard link is a safe copy.
      await link(source, temp).catch(async (err: unknown) => {
        if (isErrno(err, 'ENOENT')) throw err;
        await copyFile(source, temp);
      });
      await this.publish(temp, target);
    } catch (err) {
      await unlink(temp).catch(() => {});
      if (isErrno(err, 'ENOENT')) throw new BeatSyncError('FILE_NOT_FOUND', from);
      throw toBeatSyncError(err);
    }
  }

  private writableKey(key: string): string {
    validateKey(key);
    if (key.startsWith(TEMP_PREFIX)) throw new BeatSyncError('BAD_REQUEST', 'tmp/ is reserved for unfinished writes');
    return key;
  }

  private pathOf(key: string): string {
    const path = resolve(this.rootDir, key);
    // validateKey already forbids '..'; this stays as a last line of defence.
    if (!path.startsWith(this.rootDir + sep)) throw new BeatSyncError('BAD_REQUEST', 'invalid storage key');
    return path;
  }

  private async openTemp(): Promise<{ path: string; handle: FileHandle }> {
    await mkdir(this.tempDir, { recursive: true });
    const name = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}.part`;
    const path = join(this.tempDir, name);
    return { path, handle: await open(path, 'wx', 0o644) };
  }

  /** rename into place, then fsync the directory so the new name itself survives a crash. */
  private async publish(from: string, to: string): Promise<void> {
    const dir = dirname(to);
    await mkdir(dir, { recursive: true });
    try {
      await rename(from, to);
    } catch (err) {
      // A concurrent delete may have pruned the (then empty) directory between mkdir and rename.
      if (!isErrno(err, 'ENOENT')) throw err;
      await mkdir(dir, { recursive: true });
      await rename(from, to);
    }
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private async pruneEmptyDirs(dir: string): Promise<void> {
    let current = dir;
    while (current.startsWith(this.rootDir + sep) && current !== this.tempDir) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or already gone): stop climbing
      }
      current = dirname(current);
    }
  }

  private async *walk(dirKey: string, prefix: string): AsyncGenerator<StoredObject> {
    const dirPath = dirKey === '' ? this.rootDir : this.pathOf(dirKey);
    let entries;
    try {
      entries = await readdir(dirPath, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
      throw toBeatSyncError(err);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) {
        // Descend only where keys can still start with the prefix.
        if (prefix.startsWith(`${key}/`) || key.startsWith(prefix) || `${key}/`.startsWith(prefix)) yield* this.walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await lstat(join(dirPath, entry.name)).catch(() => null);
        if (info) yield { key, size: info.size, mtimeMs: info.mtimeMs };
      }
    }
  }
}

