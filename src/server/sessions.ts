// Session lifetimes, kept in the FileStore so that every API node agrees: sessions/<id> is touched when a
// token is made and again when it is used (its modification time is the last use, rewritten at most every
// few minutes), sessions-revoked/<id> marks a revoked session. A session unused for the lifetime is expired.
// Each node remembers what it read for a few seconds, so a busy token costs no storage round trip per request.
// prune() deletes the records of expired sessions. A token has no issue time, so a token with no record is
// one from before lifetimes existed and starts its lifetime at first use; sessions/epoch (written once, when
// lifetimes began on this store) bounds that: one lifetime after it, a token with no record is expired, which
// is what makes deleting an expired session's record safe.
import { Readable } from 'node:stream';
import type { FileStore } from '../storage/types.ts';

export type SessionState = 'ok' | 'expired' | 'revoked';

const activityKey = (id: string): string => `sessions/${id}`;
const revokedKey = (id: string): string => `sessions-revoked/${id}`;
// Beside the records (session ids are 24 characters, never this).
const EPOCH_KEY = 'sessions/epoch';

interface Known {
  lastUsedMs: number;
  /** When the stored last use was last written (by anyone, as far as this node knows). */
  storedUseMs: number;
  revoked: boolean;
  readAtMs: number;
}

export interface SessionRegistryOptions {
  files: FileStore;
  ttlMs: number;
  now?: () => number;
  /** Reports a storage failure (the check then lets the token through: a store hiccup must not sign everyone out). */
  onError?: (err: unknown) => void;
}

export class SessionRegistry {
  private readonly files: FileStore;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;
  /** How often a last use is written back, and how long a node trusts what it read. */
  private readonly renewMs: number;
  private readonly cacheMs: number;
  private readonly known = new Map<string, Known>();
  private epochMs: Promise<number> | null = null;

  constructor(options: SessionRegistryOptions) {
    this.files = options.files;
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => undefined);
    this.renewMs = Math.min(this.ttlMs / 4, 10 * 60_000);
    this.cacheMs = Math.min(this.ttlMs / 4, 5_000);
  }

  get lifetimeMs(): number {
    return this.ttlMs;
  }

  /** A new session starts its lifetime now. */
  async created(id: string): Promise<void> {
    await this.touch(id);
    const now = this.now();
    this.remember(id, { lastUsedMs: now, storedUseMs: now, revoked: false, readAtMs: now });
  }

  /** Whether the session may be used now; a use renews it. */
  async use(id: string): Promise<SessionState> {
    const now = this.now();
    let known = this.known.get(id);
    try {
      if (!known || now - known.readAtMs > this.cacheMs) known = await this.read(id, known);
      if (known.revoked) return 'revoked';
      if (now - known.lastUsedMs > this.ttlMs) return 'expired';
      known.lastUsedMs = now;
      if (now - known.storedUseMs > this.renewMs) {
        known.storedUseMs = now;
        await this.touch(id);
      }
      return 'ok';
    } catch (err) {
      this.onError(err);
      return 'ok';
    }
  }

  async revoke(id: string): Promise<void> {
    await this.files.put(revokedKey(id), Readable.from([Buffer.alloc(0)]));
    const now = this.now();
    this.remember(id, { lastUsedMs: now, storedUseMs: now, revoked: true, readAtMs: now });
  }

  private async read(id: string, before: Known | undefined): Promise<Known> {
    const [activity, revoked] = await Promise.all([this.files.stat(activityKey(id)), this.files.stat(revokedKey(id))]);
    const now = this.now();
    let stored = activity?.mtimeMs ?? null;
    if (stored === null) {
      // Every token made since lifetimes exist has its record; one from before starts its lifetime with this
      // use, unless a whole lifetime has passed since they began (then its record was pruned: expired).
      if (now - (await this.epoch()) > this.ttlMs) {
        const known = { lastUsedMs: 0, storedUseMs: 0, revoked: revoked !== null, readAtMs: now };
        this.remember(id, known);
        return known;
      }
      await this.touch(id);
      stored = now;
    }
    const lastUsedMs = Math.max(stored, before?.lastUsedMs ?? 0);
    const known = { lastUsedMs, storedUseMs: stored, revoked: revoked !== null, readAtMs: now };
    this.remember(id, known);
    return known;
  }

  /**
   * Deletes the records of sessions unused for longer than the lifetime (they stay refused: see epoch) and the
   * revocation marks whose session has no live record left. Returns how many sessions were forgotten.
   */
  async prune(): Promise<number> {
    const now = this.now();
    await this.epoch();
    const live = new Set<string>();
    let removed = 0;
    for await (const object of this.files.list('sessions/')) {
      const id = object.key.slice('sessions/'.length);
      if (object.key === EPOCH_KEY) continue;
      if (now - object.mtimeMs <= this.ttlMs) {
        live.add(id);
        continue;
      }
      await this.files.delete(object.key);
      removed++;
    }
    for await (const object of this.files.list('sessions-revoked/')) {
      const id = object.key.slice('sessions-revoked/'.length);
      if (!live.has(id)) await this.files.delete(object.key);
    }
    return removed;
  }

  /** When lifetimes began on this store (written by the first node to ask). */
  private epoch(): Promise<number> {
    this.epochMs ??= (async () => {
      const stored = await this.files.stat(EPOCH_KEY);
      if (stored) return stored.mtimeMs;
      await this.files.put(EPOCH_KEY, Readable.from([Buffer.alloc(0)]));
      return (await this.files.stat(EPOCH_KEY))?.mtimeMs ?? this.now();
    })();
    this.epochMs.catch(() => { this.epochMs = null; });
    return this.epochMs;
  }

  private remember(id: string, known: Known): void {
    // Bounded: a flood of distinct tokens must not grow memory without end.
    if (this.known.size >= 50_000) this.known.delete(this.known.keys().next().value as string);
    this.known.delete(id);
    this.known.set(id, known);
  }

  private async touch(id: string): Promise<void> {
    await this.files.put(activityKey(id), Readable.from([Buffer.alloc(0)]));
  }
}
