-- Extend one hold by its TTL from now, never past started + max.
-- KEYS: hold, holding, hold expiry zset, outbox;  ARGV: buyer, lead, now ms, ttl ms, max ms
local buyer, lead, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local holder, token, expires = hold_parts(redis.call('GET', KEYS[1]))
if holder ~= buyer then return {'not_held', '0', '0'} end
local _, _, cents, started = holding_parts(redis.call('HGET', KEYS[2], lead))
local until_ms = math.min(now + tonumber(ARGV[4]), started + tonumber(ARGV[5]))
if until_ms <= expires then return {'at_max', tostring(token), tostring(expires)} end
redis.call('SET', KEYS[1], buyer .. '|' .. token .. '|' .. until_ms, 'PXAT', until_ms)
holding_put(KEYS[2], lead, token, until_ms, cents, started)
redis.call('ZADD', KEYS[3], until_ms, lead .. '|' .. buyer .. '|' .. token)
emit(KEYS[4], {kind = 'extend', buyer_id = buyer, lead_id = lead, hold_token = token,
               occurred_ms = now, expires_ms = until_ms})
return {'held', tostring(token), tostring(until_ms)}
