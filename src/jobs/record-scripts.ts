// What BullMQ does not keep, as Lua scripts over our own keys: the job record (owner, progress, result,
// error, checkpoints, cancel flag), the per-job event list and its pub/sub channel, idempotency and
// cache indexes, per-state and per-owner indexes, history. Each transition of a record (fields,
// indexes, event) is one script: atomic, and durable once it returns (AOF `appendfsync always`).
// The queue itself (waiting, prioritized, active + locks, delayed, stalled) is BullMQ's
// (bullmq-queues.ts); these scripts only READ its keys: a job's lock (is the lease still held?) and
// its wait/prioritized/delayed sets (which type has the best head, queue position).
//
// Keys (P = prefix, e.g. "bs:"; BP = BullMQ's prefix, P .. "bull"):
//   P job:<id>        hash: the record (JSON blobs kept opaque; '' = null; intr = interruptions, turn = owner's turn)
//   P n               counter: insertion order (FIFO across types)
//   P all             zset n → id (list, newest first)      P owner:<o|n:>  zset n → id (per owner)
//   P state:<s>       zset n → id (per state: list filter, counts)
//   P types           set of types seen (one BullMQ queue each)
//   P pending         zset time → id: recorded as queued, not yet confirmed added to BullMQ
//   P finished        zset finishedAt → id
//   P ev:<id>         list of event JSON (seq = index + 1)  P evc:<id>  pub/sub channel of new events
//   P cp:<id>         hash stage → checkpoint JSON          P idem     hash owner\nkey → id
//   P livecache       hash cacheKey\nowner → live id        P cachedone:<key> zset finishedAt → id
//   P hist:<day>      hash per UTC day number: succeeded, failed, cancelled, durMs, durCount
//   BP:<type>:<id>:lock, BP:<type>:wait|prioritized|delayed   BullMQ's, read only

const COMMON = `
local P, BP = ARGV[1], ARGV[2]
local A = {}
for i = 3, #ARGV do A[i - 2] = ARGV[i] end
local function f(x) return string.format('%.0f', x) end
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function jk(id) return P .. 'job:' .. id end
local function bk(typ, suffix) return BP .. ':' .. typ .. ':' .. suffix end
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
end
local function finish(id, state, now, err, result, progress)
  local h = redis.call('HMGET', jk(id), 'type', 'cache', 'ownerKey', 'started')
  setstate(id, state)
  redis.call('HSET', jk(id), 'error', err, 'result', result, 'finished', f(now), 'updated', f(now), 'runAfter', '')
  if progress then redis.call('HSET', jk(id), 'progress', progress) end
  unlease(id)
  redis.call('ZREM', P .. 'pending', id)
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
  redis.call('ZREM', P .. 'pending', id)
  redis.call('DEL', jk(id), P .. 'ev:' .. id, P .. 'cp:' .. id)
end
-- The lease is held when our record says so AND BullMQ's lock of the job carries the same token.
local function held(id, token)
  local h = redis.call('HMGET', jk(id), 'state', 'token', 'type')
  if h[1] ~= 'running' or h[2] ~= token or token == '' then return false end
  return redis.call('GET', bk(h[3], id .. ':lock')) == token
end
-- Queued, retrying and running jobs of one owner (bounded by the queue limits, so a scan is cheap).
local function liveOf(ownerKey)
  local c = 0
  for _, s in ipairs({ 'queued', 'running', 'retrying' }) do
    for _, other in ipairs(redis.call('ZRANGE', P .. 'state:' .. s, 0, -1)) do
      if get(other, 'ownerKey') == ownerKey then c = c + 1 end
    end
  end
  return c
end
local function turnOf(ownerKey) return math.min(1023, liveOf(ownerKey)) end
-- The run stopped through no fault of the job (worker died, lease lost, shortage): its attempt is given
-- back and an interruption counted. Returns the count, and true when it reached maxIntr (the job ended
-- failed INTERRUPTED_TOO_OFTEN). Same texts as store-common.ts.
local function interrupt(id, now, maxIntr, tooOftenMsg, lastCode)
  if tonumber(get(id, 'attempts')) > 0 then redis.call('HINCRBY', jk(id), 'attempts', -1) end
  local n = redis.call('HINCRBY', jk(id), 'intr', 1)
  if n >= maxIntr then
    local cause = ''
    if lastCode and lastCode ~= 'PROCESSING_FAILED' then cause = ' (last: ' .. lastCode .. ')' end
    finish(id, 'failed', now, cjson.encode({ code = 'INTERRUPTED_TOO_OFTEN', retryable = false,
      message = tooOftenMsg .. ' [' .. n .. ' interruptions' .. cause .. ']' }), '', nil)
    return n, true
  end
  return n, false
end
-- A running record whose lease is gone (its worker died): 2 = ended (cancelled, or interrupted too often), 1 = back to queued.
local function takeBack(id, now, cancelled, maxIntr, tooOftenMsg)
  if get(id, 'cancel') == '1' then
    finish(id, 'cancelled', now, cancelled, '', nil)
    return 2
  end
  local n, ended = interrupt(id, now, maxIntr, tooOftenMsg, nil)
  if ended then return 2 end
  setstate(id, 'queued')
  unlease(id)
  redis.call('HSET', jk(id), 'error', cjson.encode({ code = 'PROCESSING_FAILED', retryable = true,
    message = 'The worker stopped without finishing (crash or lost lease): interruption ' .. n .. ' of at most ' .. maxIntr .. '; the job runs again.' }),
    'updated', f(now))
  event(id, 'state', now, false)
  return 1
end
`;

/** A: id, type, input, ownerKey, owner, priority, idem, cache, max, progress, est → {created 0/1, id, turn} */
const SUBMIT = `
local id, typ, input, ownerKey, owner, prio, idem, cache, max, progress, est =
  A[1], A[2], A[3], A[4], A[5], A[6], A[7], A[8], A[9], A[10], A[11]
if idem ~= '' then
  local existing = redis.call('HGET', P .. 'idem', ownerKey .. '\\n' .. idem)
  if existing and redis.call('EXISTS', jk(existing)) == 1 then return {0, existing, 0} end
end
if cache ~= '' then
  local live = redis.call('HGET', P .. 'livecache', cache .. '\\n' .. ownerKey)
  if live then
    local s = get(live, 'state')
    if s == 'queued' or s == 'running' or s == 'retrying' then return {0, live, 0} end
  end
end
local now = nowms()
local n = redis.call('INCR', P .. 'n')
local turn = turnOf(ownerKey)
redis.call('HSET', jk(id), 'id', id, 'n', n, 'type', typ, 'input', input, 'ownerKey', ownerKey, 'owner', owner,
  'priority', prio, 'idem', idem, 'cache', cache, 'state', 'queued', 'attempts', 0, 'intr', 0, 'turn', turn, 'max', max, 'progress', progress,
  'result', '', 'error', '', 'created', f(now), 'started', '', 'finished', '', 'updated', f(now), 'runAfter', '',
  'est', est, 'token', '', 'leaseUntil', '', 'worker', '', 'cancel', 0, 'seq', 0)
redis.call('ZADD', P .. 'all', n, id)
redis.call('ZADD', P .. 'owner:' .. ownerKey, n, id)
redis.call('ZADD', P .. 'state:queued', n, id)
redis.call('SADD', P .. 'types', typ)
redis.call('ZADD', P .. 'pending', f(now), id)
if idem ~= '' then redis.call('HSET', P .. 'idem', ownerKey .. '\\n' .. idem, id) end
if cache ~= '' then redis.call('HSET', P .. 'livecache', cache .. '\\n' .. ownerKey, id) end
event(id, 'state', now, false)
return {1, id, turn}
`;

/**
 * A: now (ms, BullMQ's clock for delayed jobs), type1, type2… → flat {type, class, -priority, turn, n}… for
 * each type with a job to give: class 0 = BullMQ's wait list (taken-back jobs, served first), 1 = prioritized
 * or a due retry. The caller sorts them and asks BullMQ for the best type first.
 */
const PEEK = `
local now = tonumber(A[1])
local out = {}
for i = 2, #A do
  local typ = A[i]
  local class, id = 0, redis.call('LINDEX', bk(typ, 'wait'), -1)
  if not id then
    class = 1
    id = redis.call('ZRANGE', bk(typ, 'prioritized'), 0, 0)[1]
    if not id then id = redis.call('ZRANGEBYSCORE', bk(typ, 'delayed'), 0, f(now * 4096 + 4095), 'LIMIT', 0, 1)[1] end
  end
  if id then
    local h = redis.call('HMGET', jk(id), 'priority', 'n', 'turn')
    table.insert(out, typ)
    table.insert(out, class)
    table.insert(out, -tonumber(h[1] or 0))
    table.insert(out, tonumber(h[3] or 0))
    table.insert(out, tonumber(h[2] or 0))
  end
end
return out
`;

/**
 * After BullMQ moved the job to active under this token. A: id, token, leaseMs, workerId, cancelledJson,
 * maxInterruptions, tooOftenMessage →
 * {leaseUntil, jobHash, checkpointHash}, or a string: 'drop' (nothing to run: the record is finished or
 * gone, or its dead attempt used the last one; end the BullMQ job), 'lost' (the lock is not ours).
 */
const CLAIM = `
local id, token, lease, worker = A[1], A[2], tonumber(A[3]), A[4]
local typ = get(id, 'type')
if not typ then return 'drop' end
if redis.call('GET', bk(typ, id .. ':lock')) ~= token then return 'lost' end
local now = nowms()
local s = get(id, 'state')
-- Running under another token: its worker died and BullMQ gave the job back before we recorded it.
if s == 'running' and takeBack(id, now, A[5], tonumber(A[6]), A[7]) == 2 then return 'drop' end
s = get(id, 'state')
if s ~= 'queued' and s ~= 'retrying' then return 'drop' end
setstate(id, 'running')
local leaseUntil = now + lease
redis.call('HINCRBY', jk(id), 'attempts', 1)
redis.call('HSET', jk(id), 'token', token, 'leaseUntil', f(leaseUntil), 'worker', worker, 'runAfter', '', 'updated', f(now))
if get(id, 'started') == '' then redis.call('HSET', jk(id), 'started', f(now)) end
redis.call('ZREM', P .. 'pending', id)
event(id, 'state', now, false)
return {f(leaseUntil), redis.call('HGETALL', jk(id)), redis.call('HGETALL', P .. 'cp:' .. id)}
`;

/** A: id, token, leaseMs, progress ('' = none) → -1 lost, else cancel flag */
const HEARTBEAT = `
local id, token, lease, progress = A[1], A[2], tonumber(A[3]), A[4]
if not held(id, token) then return -1 end
local now = nowms()
redis.call('HSET', jk(id), 'leaseUntil', f(now + lease), 'updated', f(now))
if progress ~= '' and progress ~= get(id, 'progress') then
  redis.call('HSET', jk(id), 'progress', progress)
  event(id, 'progress', now, false)
end
return tonumber(get(id, 'cancel'))
`;

/** A: id, token, stage, data → -1 lost, 1 saved */
const CHECKPOINT = `
if not held(A[1], A[2]) then return -1 end
redis.call('HSET', P .. 'cp:' .. A[1], A[3], A[4])
return 1
`;

/** A: id, token, result → -1 lost, 1 done */
const COMPLETE = `
local id, token, result = A[1], A[2], A[3]
if not held(id, token) then return -1 end
local p = cjson.decode(get(id, 'progress'))
p.percent = 100
finish(id, 'succeeded', nowms(), '', result, cjson.encode(p))
return 1
`;

/**
 * A: id, token, errorJson, code, retryable (0/1), random 0..1, baseMs, maxMs, jitter, cancelledJson,
 * maxInterruptions, tooOftenMessage → -1 lost, 0 ended (failed or cancelled), else the retry delay in
 * ms + 1 (retrying; BullMQ delays it by that). A retryable RESOURCE_LIMIT (a shortage) is an interruption.
 */
const FAIL = `
local id, token, err, code, retryable, r = A[1], A[2], A[3], A[4], A[5] == '1', tonumber(A[6])
local base, maxMs, jitter, cancelled = tonumber(A[7]), tonumber(A[8]), tonumber(A[9]), A[10]
if not held(id, token) then return -1 end
local now = nowms()
local attempts, max = tonumber(get(id, 'attempts')), tonumber(get(id, 'max'))
local backoffN = attempts
local shortage = retryable and code == 'RESOURCE_LIMIT'
if get(id, 'cancel') == '1' or code == 'CANCELLED' then
  finish(id, 'cancelled', now, code == 'CANCELLED' and err or cancelled, '', nil)
  return 0
end
if shortage then
  local n, ended = interrupt(id, now, tonumber(A[11]), A[12], code)
  if ended then return 0 end
  backoffN = n
end
if shortage or (retryable and attempts < max) then
  -- Same shape as backoff.ts: min(base·2^(n-1), max), minus up to jitter of it.
  local ceiling = math.min(maxMs, base * 2 ^ math.min(40, math.max(0, backoffN - 1)))
  local delay = math.floor(ceiling * (1 - jitter * r) + 0.5)
  setstate(id, 'retrying')
  unlease(id)
  redis.call('HSET', jk(id), 'error', err, 'runAfter', f(now + delay), 'updated', f(now))
  event(id, 'state', now, false)
  return delay + 1
end
finish(id, 'failed', now, err, '', nil)
return 0
`;

/** A: id, token, cancelledJson → -1 lost, 1 back to queued (attempt not counted), 2 cancelled */
const RELEASE = `
local id, token = A[1], A[2]
if not held(id, token) then return -1 end
local now = nowms()
-- A job asked to stop is not handed back: it ends cancelled.
if get(id, 'cancel') == '1' then
  finish(id, 'cancelled', now, A[3], '', nil)
  return 2
end
setstate(id, 'queued')
unlease(id)
redis.call('HINCRBY', jk(id), 'attempts', -1)
redis.call('HSET', jk(id), 'updated', f(now))
event(id, 'state', now, false)
return 1
`;

/** A: id, cancelledJson → 0 unknown, 1 done (flagged or already finished), 2 cancelled now (remove it from BullMQ) */
const CANCEL = `
local id = A[1]
if redis.call('EXISTS', jk(id)) == 0 then return 0 end
local s = get(id, 'state')
local now = nowms()
if s == 'queued' or s == 'retrying' then
  finish(id, 'cancelled', now, A[2], '', nil)
  return 2
elseif s == 'running' and get(id, 'cancel') == '0' then
  redis.call('HSET', jk(id), 'cancel', 1, 'updated', f(now))
end
return 1
`;

/** A: id, queuedProgress → 0 unknown, state name when refused, 1 queued (the caller adds it to BullMQ) */
const RETRY = `
local id = A[1]
if redis.call('EXISTS', jk(id)) == 0 then return 0 end
local s = get(id, 'state')
if s ~= 'failed' and s ~= 'cancelled' then return s end
local now = nowms()
setstate(id, 'queued')
redis.call('HSET', jk(id), 'attempts', 0, 'intr', 0, 'turn', math.min(1023, liveOf(get(id, 'ownerKey')) - 1), 'error', '', 'result', '', 'started', '',
  'finished', '', 'runAfter', '', 'cancel', 0, 'progress', A[2], 'updated', f(now))
redis.call('ZREM', P .. 'finished', id)
redis.call('ZADD', P .. 'pending', f(now), id)
local cache = get(id, 'cache')
if cache ~= '' then redis.call('HSETNX', P .. 'livecache', cache .. '\\n' .. get(id, 'ownerKey'), id) end
event(id, 'state', now, false)
return 1
`;

/**
 * BullMQ moved this job from active back to wait (its lock expired). A: id, cancelledJson, maxInterruptions,
 * tooOftenMessage → 0 nothing to do (not running, or running under a live lock: claimed again meanwhile),
 * 1 back to queued (an interruption counted), 2 ended or already finished (remove it from BullMQ).
 */
const TAKE_BACK = `
local id = A[1]
local h = redis.call('HMGET', jk(id), 'state', 'token', 'type')
if not h[1] then return 2 end
if h[1] == 'succeeded' or h[1] == 'failed' or h[1] == 'cancelled' then return 2 end
if h[1] ~= 'running' then return 0 end
if h[2] ~= '' and redis.call('GET', bk(h[3], id .. ':lock')) == h[2] then return 0 end
return takeBack(id, nowms(), A[2], tonumber(A[3]), A[4])
`;

/**
 * A: id → nil when not waiting in BullMQ, else the 1-based place among every waiting job of every type, in
 * the order claim takes them: BullMQ's wait lists first (by insertion), then priority, then insertion.
 */
const POSITION = `
local id = A[1]
local h = redis.call('HMGET', jk(id), 'type', 'priority', 'n')
if not h[1] then return nil end
local typ, prio, n = h[1], tonumber(h[2]), tonumber(h[3])
local function olderIn(ids)
  local c = 0
  for _, other in ipairs(ids) do
    if tonumber(get(other, 'n') or 0) < n then c = c + 1 end
  end
  return c
end
local types = redis.call('SMEMBERS', P .. 'types')
if redis.call('LPOS', bk(typ, 'wait'), id) then
  local ahead = 0
  for _, t in ipairs(types) do ahead = ahead + olderIn(redis.call('LRANGE', bk(t, 'wait'), 0, -1)) end
  return ahead + 1
end
local score = redis.call('ZSCORE', bk(typ, 'prioritized'), id)
if not score then return nil end
local band = math.floor(tonumber(score) / 4294967296) * 4294967296
local ahead = redis.call('ZCOUNT', bk(typ, 'prioritized'), '-inf', '(' .. score)
for _, t in ipairs(types) do
  ahead = ahead + redis.call('LLEN', bk(t, 'wait'))
  if t ~= typ then
    ahead = ahead + redis.call('ZCOUNT', bk(t, 'prioritized'), '-inf', '(' .. f(band))
    ahead = ahead + olderIn(redis.call('ZRANGEBYSCORE', bk(t, 'prioritized'), f(band), '(' .. f(band + 4294967296)))
  end
end
return ahead + 1
`;

/** A: before, batch → {id, type, id, type…} of the finished jobs deleted (with events, checkpoints, indexes) */
const PURGE = `
local ids = redis.call('ZRANGEBYSCORE', P .. 'finished', '-inf', '(' .. A[1], 'LIMIT', 0, tonumber(A[2]))
local out = {}
for _, id in ipairs(ids) do
  local typ = get(id, 'type')
  if typ then
    table.insert(out, id)
    table.insert(out, typ)
  end
  drop(id)
end
return out
`;

/** A: id → 0 unknown, the state name when live (refused), else the type of the deleted job */
const REMOVE = `
local h = redis.call('HMGET', jk(A[1]), 'state', 'type')
if not h[1] then return 0 end
if h[1] ~= 'succeeded' and h[1] ~= 'failed' and h[1] ~= 'cancelled' then return {h[1]} end
drop(A[1])
return h[2]
`;

/** A: ownerKey → the owner's queued, retrying and running jobs */
const COUNT_LIVE = `
return liveOf(A[1])
`;

export const RECORD_SCRIPTS = {
  bsSubmit: SUBMIT,
  bsPeek: PEEK,
  bsClaim: CLAIM,
  bsHeartbeat: HEARTBEAT,
  bsCheckpoint: CHECKPOINT,
  bsComplete: COMPLETE,
  bsFail: FAIL,
  bsRelease: RELEASE,
  bsCancel: CANCEL,
  bsRetry: RETRY,
  bsTakeBack: TAKE_BACK,
  bsPosition: POSITION,
  bsPurge: PURGE,
  bsRemove: REMOVE,
  bsCountLive: COUNT_LIVE,
} as const;

export type RecordScriptName = keyof typeof RECORD_SCRIPTS;

/** The script's full source: the shared helpers, then its body. */
export function scriptSource(name: RecordScriptName): string {
  return COMMON + RECORD_SCRIPTS[name];
}
