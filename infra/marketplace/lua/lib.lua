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
