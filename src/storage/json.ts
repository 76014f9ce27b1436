// Small JSON records in a FileStore (upload metadata, resumable-upload state, feedback, saved analyses).
import { Readable } from 'node:stream';
import type { FileStore, PutResult } from './types.ts';

/** The object at `key` parsed as JSON; throws when it is missing or not JSON. */
export async function readStoredJson(files: FileStore, key: string): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of await files.read(key)) chunks.push(Buffer.from(chunk as Uint8Array));
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export function writeStoredJson(files: FileStore, key: string, value: unknown, options?: { maxBytes?: number }): Promise<PutResult> {
  return files.put(key, Readable.from([Buffer.from(JSON.stringify(value))]), options);
}
