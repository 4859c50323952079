-- Shared by every marketplace script (prepended to each when loaded).
-- A hold value is "{buyer_id}|{token}|{expires_ms}"; a buyer's holding entry is
-- "{token}|{expires_ms}|{cents}|{started_ms}".
local function hold_parts(value)
  if not value then return nil, 0, 0 end
  local b, t, e = string.match(value, '^(.-)|(%d+)|(%d+)$')
  return b, tonumber(t), tonumber(e)
end

local function holding_parts(value)
  if not value then return 0, 0, 0, 0 end
  local t, e, c, s = string.match(value, '^(%d+)|(%d+)|(%d+)|(%d+)$')
  return tonumber(t), tonumber(e), tonumber(c), tonumber(s)
end

-- A buyer's holds: the HASH `holding`, beside it `holding|exp` (ZSET lead by expiry) and
-- `holding|cents` (what the holds are worth), kept in step by these three functions so a
-- hold's limit check costs the same whatever the buyer holds (no scan of the HASH).
local function holding_drop(holding, lead)
  local _, _, cents = holding_parts(redis.call('HGET', holding, lead))
  if redis.call('HDEL', holding, lead) == 1 then
    redis.call('DECRBY', holding .. '|cents', cents)
  end
  redis.call('ZREM', holding .. '|exp', lead)
end

local function holding_put(holding, lead, token, expires, cents, started)
  holding_drop(holding, lead)
  redis.call('HSET', holding, lead, token .. '|' .. expires .. '|' .. cents .. '|' .. started)
  redis.call('ZADD', holding .. '|exp', expires, lead)
  redis.call('INCRBY', holding .. '|cents', cents)
end

-- Drop the holds that ran out; the number left and what they are worth.
local function holding_live(holding, now)
  for _, lead in ipairs(redis.call('ZRANGEBYSCORE', holding .. '|exp', '-inf', now)) do
    holding_drop(holding, lead)
  end
  return redis.call('ZCARD', holding .. '|exp'),
         tonumber(redis.call('GET', holding .. '|cents') or '0')
end

-- The card's digits as written: a 64-bit H3 cell would lose precision as a Lua number.
local function cell_of(card)
  return card and string.match(card, '"h3_r7":(%d+)') or '0'
end

local function cents_of(card)
  local price = string.match(card, '"lead_price":([%d%.eE%+%-]+)')
  return math.floor(tonumber(price or '0') * 100 + 0.5)
end

-- The audit outbox: every change is one entry, written in the same script as the change,
-- so nothing is changed without its record; the API's relay moves entries to Kafka.
local function emit(outbox, event)
  return redis.call('XADD', outbox, '*', 'e', cjson.encode(event))
end

-- Back in the market after a hold ended: the live feed shows the lead again.
local function announce(feed, maxlen, lead, card, reason)
  redis.call('XADD', feed, 'MAXLEN', '~', maxlen, '*', 'kind', 'lead', 'lead_id', lead,
             'cell', cell_of(card), 'card', card, 'reason', reason)
end
