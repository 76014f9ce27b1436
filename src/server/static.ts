// Serves the built web page (dist/web) for GET/HEAD requests no API route took: hashed assets are cached
// for a year, everything else is revalidated; unknown page paths get index.html (the page routes itself).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Paths that are never the page (a miss there is a plain NOT_FOUND). */
export function isApiPath(url: string): boolean {
  return url === '/metrics' || url.startsWith('/metrics?') || url === '/api' || url.startsWith('/api/') || url.startsWith('/api?');
}

async function regularFile(path: string): Promise<{ size: number; mtimeMs: number } | null> {
  const info = await stat(path).catch(() => null);
  return info && info.isFile() ? { size: info.size, mtimeMs: info.mtimeMs } : null;
}

/**
 * Answers from `webDir` and returns true, or returns false (nothing sent) when there is no such page.
 * The URL is decoded and resolved inside webDir; anything leaving it is simply not found.
 */
export async function sendStatic(webDir: string, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const root = resolve(webDir);
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(request.url, 'http://x').pathname);
  } catch {
    return false;
  }
  if (pathname.includes('\0')) return false;
  let path = resolve(root, `.${pathname}`);
  if (path !== root && !path.startsWith(root + sep)) return false;
  let info = path === root ? null : await regularFile(path);
  if (!info) {
    // A page path (no extension) falls back to the app shell; a missing asset stays missing.
    if (extname(pathname) !== '' && extname(pathname) !== '.html') return false;
    path = join(root, 'index.html');
    info = await regularFile(path);
    if (!info) return false;
  }
  const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const immutable = path.startsWith(join(root, 'assets') + sep);
  reply
    .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .header('etag', etag)
    .header('x-content-type-options', 'nosniff')
    .type(TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream');
  if (request.headers['if-none-match'] === etag) {
    await reply.code(304).send();
    return true;
  }
  reply.header('content-length', String(info.size));
  await reply.code(200).send(request.method === 'HEAD' ? undefined : createReadStream(path));
  return true;
}
