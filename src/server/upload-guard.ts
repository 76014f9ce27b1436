// Upload bodies are long requests, which a slow client can hold for the whole request time-out with a temp
// file and descriptors each (1 byte every 5 s is enough to defeat the idle time-out). Two limits close that:
// a minimum rate over a sliding window (a body slower than that is cut off and its partial file removed by
// the store, as for any broken body) and a cap on the uploads one address may have open at once.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BeatSyncError } from '../errors.ts';

export interface UploadGuardOptions {
  /** Bytes per second a body must average over `windowMs`. */
  minBytesPerSecond: number;
  windowMs: number;
  /** Uploads one client address may have open at once. */
  perIp: number;
  /** `METHOD url-pattern` of the upload routes. */
  routes: readonly string[];
}

export function uploadGuard(options: UploadGuardOptions) {
  const routes = new Set(options.routes);
  const open = new Map<string, number>();
  const tickMs = Math.max(100, Math.floor(options.windowMs / 8));
  const minBytes = (options.minBytesPerSecond * options.windowMs) / 1000;

  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!routes.has(`${request.method} ${request.routeOptions.url}`)) return;
    const ip = request.ip;
    const count = open.get(ip) ?? 0;
    if (count >= options.perIp) {
      reply.header('retry-after', '10');
      throw new BeatSyncError('RATE_LIMITED', `at most ${options.perIp} uploads at once from one address`);
    }
    open.set(ip, count + 1);

    const raw = request.raw;
    const socket = raw.socket;
    const startBytes = socket.bytesRead;
    const startedAt = Date.now();
    // (time, bytes read) every tick, back to one window ago.
    const samples: { at: number; bytes: number }[] = [{ at: startedAt, bytes: startBytes }];
    const timer = setInterval(() => {
      if (raw.readableEnded || raw.destroyed) return clearInterval(timer);
      const now = Date.now();
      samples.push({ at: now, bytes: socket.bytesRead });
      while (samples.length > 1 && samples[1].at <= now - options.windowMs) samples.shift();
      if (now - samples[0].at < options.windowMs) return;
      if (socket.bytesRead - samples[0].bytes < minBytes) {
        request.log.info({ ip, receivedBytes: socket.bytesRead - startBytes, seconds: (now - startedAt) / 1000 }, 'upload slower than the minimum rate: closed');
        clearInterval(timer);
        raw.destroy(new BeatSyncError('TIMEOUT', 'upload slower than the minimum rate'));
      }
    }, tickMs);
    timer.unref();

    // The upload counts as open until its answer is sent or its connection is gone.
    reply.raw.once('close', () => {
      clearInterval(timer);
      const left = (open.get(ip) ?? 1) - 1;
      if (left <= 0) open.delete(ip);
      else open.set(ip, left);
    });
  };
}
