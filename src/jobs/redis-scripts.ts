// The Redis backend's state machine as Lua scripts: every transition of a job (hash, indexes, lease,
// event log, history) happens in one script, so it is atomic and, with AOF `appendfsync always`,
// durable once the call returns. Times come from Redis' own clock (TIME), so nodes with skewed
// clocks agree on leases and backoffs.
//
// Keys (P = prefix, e.g. "bs:"):
//   P job:<id>        hash: the record (JSON blobs kept opaque; '' = null)
//   P n               counter: insertion order
//   P all             zset n → id (list, newest first)      P owner:<o|n:>  zset n → id (per owner)
//   P state:<s>       zset n → id (per state: list filter, counts)
//   P ready:<type>    zset (1e6 - priority)·2^32 + n → id (claimable, best first)
//   P types           set of types seen                     P delayed  zset runAfter → id (retrying)
//   P leases          zset leaseUntil → id (running)        P finished zset finishedAt → id
//   P ev:<id>         list of event JSON (seq = index + 1)  P evc:<id>  pub/sub channel of new events
//   P cp:<id>         hash stage → checkpoint JSON          P idem     hash owner\nkey → id
//   P livecache       hash cacheKey\nowner → live id        P cachedone:<key> zset finishedAt → id
//   P hist:<day>      hash per UTC day number: succeeded, failed, cancelled, durMs, durCount

const COMMON = `
local P = ARGV[1]
local function f(x) return string.format('%.0f', x) end
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function jk(id) return P .. 'job:' .. id end
local function rank(prio, n) return (1000000 - tonumber(prio)) * 4294967296 + tonumber(n) end
local function get(id, field) return redis.call('HGET', jk(id), field) end
local function setstate(id, new)
  local old = get(id, 'state')
  local n = get(id, 'n')
  if old ~= new then
    redis.call('ZREM', P .. 'state:' .. old, id)
    redis.call('ZADD', P .. 'state:' .. new, n, id)
  end
  redis.call('HSET', jk(id), 'state', new)
end
local function enqueue(id)
  local h = redis.call('HMGET', jk(id), 'type', 'priority', 'n')
  redis.call('ZADD', P .. 'ready:' .. h[1], f(rank(h[2], h[3])), id)
end
local function event(id, kind, now, withResult)
  local h = redis.call('HMGET', jk(id), 'state', 'progress', 'error', 'result')
  local seq = redis.call('HINCRBY', jk(id), 'seq', 1)
  local json = '{"seq":' .. seq .. ',"jobId":' .. cjson.encode(id) .. ',"kind":"' .. kind .. '","state":"' .. h[1]
    .. '","progress":' .. h[2] .. ',"at":' .. f(now)
  if kind == 'state' and h[3] ~= '' then json = json .. ',"error":' .. h[3] end
  if withResult and h[4] ~= '' then json = json .. ',"result":' .. h[4] end
  json = json .. '}'
  redis.call('RPUSH', P .. 'ev:' .. id, json)
  redis.call('PUBLISH', P .. 'evc:' .. id, json)
end
local function unlease(id)
  redis.call('HSET', jk(id), 'token', '', 'leaseUntil', '', 'worker', '')
  redis.call('ZREM', P .. 'leases', id)
end
local function finish(id, state, now, err, result, progress)
  local h = redis.call('HMGET', jk(id), 'type', 'cache', 'ownerKey', 'started')
  setstate(id, state)
  redis.call('HSET', jk(id), 'error', err, 'result', result, 'finished', f(now), 'updated', f(now), 'runAfter', '')
  if progress then redis.call('HSET', jk(id), 'progress', progress) end
  unlease(id)
  redis.call('ZREM', P .. 'delayed', id)
  redis.call('ZREM', P .. 'ready:' .. h[1], id)
  redis.call('ZADD', P .. 'finished', f(now), id)
  if h[2] ~= '' then
    local field = h[2] .. '\\n' .. h[3]
    if redis.call('HGET', P .. 'livecache', field) == id then redis.call('HDEL', P .. 'livecache', field) end
    if state == 'succeeded' then redis.call('ZADD', P .. 'cachedone:' .. h[2], f(now), id) end
  end
  event(id, 'state', now, state == 'succeeded')
  local hist = P .. 'hist:' .. f(math.floor(now / 86400000))
  redis.call('HINCRBY', hist, state, 1)
  if state == 'succeeded' and h[4] ~= '' then
    redis.call('HINCRBY', hist, 'durMs', f(now - tonumber(h[4])))
    redis.call('HINCRBY', hist, 'durCount', 1)
  end
end
-- The job when this token holds its lease, else false (the caller answers CONFLICT).
local function held(id, token)
  local h = redis.call('HMGET', jk(id), 'state', 'token')
  return h[1] == 'running' and h[2] == token and token ~= ''
end
-- Deletes a finished job with its events, checkpoints and index entries (the hist:<day> counts stay).
local function drop(id)
  local h = redis.call('HMGET', jk(id), 'state', 'ownerKey', 'idem', 'cache')
  if h[1] then
    redis.call('ZREM', P .. 'state:' .. h[1], id)
    redis.call('ZREM', P .. 'owner:' .. h[2], id)
    if h[3] ~= '' and redis.call('HGET', P .. 'idem', h[2] .. '\\n' .. h[3]) == id then
      redis.call('HDEL', P .. 'idem', h[2] .. '\\n' .. h[3])
    end
    if h[4] ~= '' then
      redis.call('ZREM', P .. 'cachedone:' .. h[4], id)
      if redis.call('HGET', P .. 'livecache', h[4] .. '\\n' .. h[2]) == id then redis.call('HDEL', P .. 'livecache', h[4] .. '\\n' .. h[2]) end
    end
  end
  redis.call('ZREM', P .. 'all', id)
  redis.call('ZREM', P .. 'finished', id)
  redis.call('DEL', jk(id), P .. 'ev:' .. id, P .. 'cp:' .. id)
end
local function promoteDue(now)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', f(now))) do
    redis.call('ZREM', P .. 'delayed', id)
    enqueue(id)
  end
end
`;

/** KEYS none (single Redis, not Cluster). ARGV: P, id, type, input, ownerKey, owner, priority, idem, cache, max, progress, est */
const SUBMIT = `
local id, typ, input, ownerKey, owner, prio, idem, cache, max, progress, est =
  ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
if idem ~= '' then
  local existing = redis.call('HGET', P .. 'idem', ownerKey .. '\\n' .. idem)
  if existing and redis.call('EXISTS', jk(existing)) == 1 then return {0, existing} end
end
if cache ~= '' then
  local live = redis.call('HGET', P .. 'livecache', cache .. '\\n' .. ownerKey)
  if live then
    local s = get(live, 'state')
    if s == 'queued' or s == 'running' or s == 'retrying' then return {0, live} end
  end
end
local now = nowms()
local n = redis.call('INCR', P .. 'n')
redis.call('HSET', jk(id), 'id', id, 'n', n, 'type', typ, 'input', input, 'ownerKey', ownerKey, 'owner', owner,
  'priority', prio, 'idem', idem, 'cache', cache, 'state', 'queued', 'attempts', 0, 'max', max, 'progress', progress,
  'result', '', 'error', '', 'created', f(now), 'started', '', 'finished', '', 'updated', f(now), 'runAfter', '',
  'est', est, 'token', '', 'leaseUntil', '', 'worker', '', 'cancel', 0, 'seq', 0)
redis.call('ZADD', P .. 'all', n, id)
redis.call('ZADD', P .. 'owner:' .. ownerKey, n, id)
redis.call('ZADD', P .. 'state:queued', n, id)
redis.call('SADD', P .. 'types', typ)
enqueue(id)
if idem ~= '' then redis.call('HSET', P .. 'idem', ownerKey .. '\\n' .. idem, id) end
if cache ~= '' then redis.call('HSET', P .. 'livecache', cache .. '\\n' .. ownerKey, id) end
event(id, 'state', now, false)
return {1, id}
`;

/** ARGV: P, token, leaseMs, workerId, type1, type2… → nil or {leaseUntil, jobHash, checkpointHash} */
const CLAIM = `
local token, lease, worker = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local now = nowms()
promoteDue(now)
local best, bestScore
for i = 5, #ARGV do
  local head = redis.call('ZRANGE', P .. 'ready:' .. ARGV[i], 0, 0, 'WITHSCORES')
  if head[1] and (not bestScore or tonumber(head[2]) < bestScore) then
    best, bestScore = head[1], tonumber(head[2])
    best = head[1]
  end
end
if not best then return nil end
redis.call('ZREM', P .. 'ready:' .. get(best, 'type'), best)
setstate(best, 'running')
local leaseUntil = now + lease
redis.call('HINCRBY', jk(best), 'attempts', 1)
redis.call('HSET', jk(best), 'token', token, 'leaseUntil', f(leaseUntil), 'worker', worker, 'runAfter', '', 'updated', f(now))
if get(best, 'started') == '' then redis.call('HSET', jk(best), 'started', f(now)) end
redis.call('ZADD', P .. 'leases', f(leaseUntil), best)
event(best, 'state', now, false)
return {f(leaseUntil), redis.call('HGETALL', jk(best)), redis.call('HGETALL', P .. 'cp:' .. best)}
`;

/** ARGV: P, id, token, leaseMs, progress ('' = none) → -1 lost, else cancel flag */
const HEARTBEAT = `
local id, token, lease, progress = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if not held(id, token) then return -1 end
local now = nowms()
redis.call('HSET', jk(id), 'leaseUntil', f(now + lease), 'updated', f(now))
redis.call('ZADD', P .. 'leases', f(now + lease), id)
if progress ~= '' and progress ~= get(id, 'progress') then
  redis.call('HSET', jk(id), 'progress', progress)
  event(id, 'progress', now, false)
end
return tonumber(get(id, 'cancel'))
`;

/** ARGV: P, id, token, stage, data → -1 lost, 1 saved */
const CHECKPOINT = `
if not held(ARGV[2], ARGV[3]) then return -1 end
redis.call('HSET', P .. 'cp:' .. ARGV[2], ARGV[4], ARGV[5])
return 1
`;

/** ARGV: P, id, token, result → -1 lost, 1 done */
const COMPLETE = `
local id, token, result = ARGV[2], ARGV[3], ARGV[4]
if not held(id, token) then return -1 end
local p = cjson.decode(get(id, 'progress'))
p.percent = 100
finish(id, 'succeeded', nowms(), '', result, cjson.encode(p))
return 1
`;

/** ARGV: P, id, token, errorJson, code, retryable (0/1), random 0..1, baseMs, maxMs, jitter, cancelledJson → -1 lost, 1 done */
const FAIL = `
local id, token, err, code, retryable, r = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6] == '1', tonumber(ARGV[7])
local base, maxMs, jitter, cancelled = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11]
if not held(id, token) then return -1 end
local now = nowms()
local attempts, max = tonumber(get(id, 'attempts')), tonumber(get(id, 'max'))
if get(id, 'cancel') == '1' or code == 'CANCELLED' then
  finish(id, 'cancelled', now, code == 'CANCELLED' and err or cancelled, '', nil)
elseif retryable and attempts < max then
  -- Same shape as backoff.ts: min(base·2^(n-1), max), minus up to jitter of it.
  local ceiling = math.min(maxMs, base * 2 ^ math.min(40, math.max(0, attempts - 1)))
  local delay = math.floor(ceiling * (1 - jitter * r) + 0.5)
  setstate(id, 'retrying')
  unlease(id)
  redis.call('HSET', jk(id), 'error', err, 'runAfter', f(now + delay), 'updated', f(now))
  redis.call('ZADD', P .. 'delayed', f(now + delay), id)
  event(id, 'state', now, false)
else
  finish(id, 'failed', now, err, '', nil)
end
return 1
`;

/** ARGV: P, id, token, cancelledJson → -1 lost, 1 released (back to queued, attempt not counted) */
const RELEASE = `
local id, token = ARGV[2], ARGV[3]
if not held(id, token) then return -1 end
local now = nowms()
-- A job asked to stop is not handed back: it ends cancelled.
if get(id, 'cancel') == '1' then
  finish(id, 'cancelled', now, ARGV[4], '', nil)
  return 1
end
setstate(id, 'queued')
unlease(id)
redis.call('HINCRBY', jk(id), 'attempts', -1)
redis.call('HSET', jk(id), 'updated', f(now))
enqueue(id)
event(id, 'state', now, false)
return 1
`;

/** ARGV: P, id, cancelledJson → 0 unknown, 1 done */
const CANCEL = `
local id = ARGV[2]
if redis.call('EXISTS', jk(id)) == 0 then return 0 end
local s = get(id, 'state')
local now = nowms()
if s == 'queued' or s == 'retrying' then
  finish(id, 'cancelled', now, ARGV[3], '', nil)
elseif s == 'running' and get(id, 'cancel') == '0' then
  redis.call('HSET', jk(id), 'cancel', 1, 'updated', f(now))
end
return 1
`;

/** ARGV: P, id, queuedProgress → 0 unknown, state name when refused, 1 done */
const RETRY = `
local id = ARGV[2]
if redis.call('EXISTS', jk(id)) == 0 then return 0 end
local s = get(id, 'state')
if s ~= 'failed' and s ~= 'cancelled' then return s end
local now = nowms()
setstate(id, 'queued')
redis.call('HSET', jk(id), 'attempts', 0, 'error', '', 'result', '', 'started', '', 'finished', '', 'runAfter', '',
  'cancel', 0, 'progress', ARGV[3], 'updated', f(now))
redis.call('ZREM', P .. 'finished', id)
local cache = get(id, 'cache')
if cache ~= '' then redis.call('HSETNX', P .. 'livecache', cache .. '\\n' .. get(id, 'ownerKey'), id) end
enqueue(id)
event(id, 'state', now, false)
return 1
`;

/** ARGV: P, cancelledJson, all (1 = every running job, whatever its lease) → how many were taken back */
const RECOVER = `
local now = nowms()
local ids
if ARGV[3] == '1' then ids = redis.call('ZRANGE', P .. 'leases', 0, -1)
else ids = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', '(' .. f(now)) end
local count = 0
for _, id in ipairs(ids) do
  if get(id, 'state') ~= 'running' then
    redis.call('ZREM', P .. 'leases', id)
  else
    count = count + 1
    local attempts, max = tonumber(get(id, 'attempts')), tonumber(get(id, 'max'))
    local lost = cjson.encode({ code = 'PROCESSING_FAILED', retryable = true,
      message = 'The worker stopped without finishing (crash or lost lease) on attempt ' .. attempts .. ' of ' .. max .. '.' })
    if get(id, 'cancel') == '1' then
      finish(id, 'cancelled', now, ARGV[2], '', nil)
    elseif attempts >= max then
      finish(id, 'failed', now, lost, '', nil)
    else
      setstate(id, 'queued')
      unlease(id)
      redis.call('HSET', jk(id), 'error', lost, 'updated', f(now))
      enqueue(id)
      event(id, 'state', now, false)
    end
  end
end
return count
`;

/** ARGV: P, id → nil when not claimable, else 1-based place among every claimable job */
const POSITION = `
promoteDue(nowms())
local id = ARGV[2]
local typ = get(id, 'type')
if not typ then return nil end
local mine = redis.call('ZSCORE', P .. 'ready:' .. typ, id)
if not mine then return nil end
local ahead = 0
for _, t in ipairs(redis.call('SMEMBERS', P .. 'types')) do
  ahead = ahead + redis.call('ZCOUNT', P .. 'ready:' .. t, '-inf', '(' .. mine)
end
return ahead + 1
`;

/** ARGV: P, before, batch → how many finished jobs (with events, checkpoints, indexes) were deleted */
const PURGE = `
local ids = redis.call('ZRANGEBYSCORE', P .. 'finished', '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do drop(id) end
return #ids
`;

/** ARGV: P, id → 0 unknown, the state name when live (refused), 1 deleted */
const REMOVE = `
local s = get(ARGV[2], 'state')
if not s then return 0 end
if s ~= 'succeeded' and s ~= 'failed' and s ~= 'cancelled' then return s end
drop(ARGV[2])
return 1
`;

export const REDIS_SCRIPTS = {
  bsSubmit: SUBMIT,
  bsClaim: CLAIM,
  bsHeartbeat: HEARTBEAT,
  bsCheckpoint: CHECKPOINT,
  bsComplete: COMPLETE,
  bsFail: FAIL,
  bsRelease: RELEASE,
  bsCancel: CANCEL,
  bsRetry: RETRY,
  bsRecover: RECOVER,
  bsPosition: POSITION,
  bsPurge: PURGE,
  bsRemove: REMOVE,
} as const;

export type RedisScriptName = keyof typeof REDIS_SCRIPTS;

/** The script's full source: the shared helpers, then its body. */
export function scriptSource(name: RedisScriptName): string {
  return COMMON + REDIS_SCRIPTS[name];
}
