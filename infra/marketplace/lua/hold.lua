-- Hold up to N leads for one buyer, atomically, each with a fencing token.
-- KEYS: holding, hold expiry zset, token counter, day totals, limit overrides, all feed,
--       outbox, then per lead: hold, card, gone, sold
-- ARGV: buyer, now ms, ttl ms, default concurrent holds, default leads/day,
--       default spend cents/day, feed maxlen, n, lead ids...
local buyer, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local over = redis.call('HMGET', KEYS[5], 'concurrent_holds', 'leads_per_day',
                        'daily_spend_cents')
local max_holds = tonumber(over[1] or ARGV[4])
local per_day = tonumber(over[2] or ARGV[5])
local spend_cap = tonumber(over[3] or ARGV[6])

local active, held_cents = holding_live(KEYS[1], now)
local day = redis.call('HMGET', KEYS[4], 'leads', 'cents')
local bought, spent = tonumber(day[1] or '0'), tonumber(day[2] or '0')

local out = {}
for i = 1, tonumber(ARGV[8]) do
  local lead, k = ARGV[8 + i], 7 + (i - 1) * 4
  local status, token, expires, why, price = '', 0, 0, '', 0
  if redis.call('EXISTS', KEYS[k + 4]) == 1 or redis.call('EXISTS', KEYS[k + 3]) == 1 then
    status = 'sold'
  else
    local holder, t, e = hold_parts(redis.call('GET', KEYS[k + 1]))
    if holder == buyer then
      status, token, expires = 'held', t, e
      local _, _, mine = holding_parts(redis.call('HGET', KEYS[1], lead))
      price = mine
    elseif holder then
      status = 'taken'
    else
      local card = redis.call('GET', KEYS[k + 2])
      if not card then
        status = 'not_found'
      else
        local cents = cents_of(card)
        if max_holds > 0 and active >= max_holds then why = 'concurrent_holds'
        elseif per_day > 0 and bought + active >= per_day then why = 'leads_per_day'
        elseif spend_cap > 0 and spent + held_cents + cents > spend_cap then why = 'daily_spend'
        end
        if why ~= '' then
          status = 'over_limit'
        else
          token, expires = redis.call('INCR', KEYS[3]), now + ttl
          redis.call('SET', KEYS[k + 1], buyer .. '|' .. token .. '|' .. expires, 'PXAT', expires)
          holding_put(KEYS[1], lead, token, expires, cents, now)
          redis.call('ZADD', KEYS[2], expires, lead .. '|' .. buyer .. '|' .. token)
          redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[7], '*', 'kind', 'removed',
                     'lead_id', lead, 'cell', cell_of(card), 'reason', 'held', 'by', buyer)
          emit(KEYS[7], {kind = 'hold', buyer_id = buyer, lead_id = lead, hold_token = token,
                         amount_cents = cents, occurred_ms = now, expires_ms = expires,
                         cell = cell_of(card)})
          active, held_cents, status, price = active + 1, held_cents + cents, 'held', cents
        end
      end
    end
  end
  out[i] = {status, tostring(token), tostring(expires), why, tostring(price)}
end
return out
