-- Release a buyer's holds; each released lead is back in rankings and feeds at once.
-- KEYS: holding, hold expiry zset, all feed, outbox, then per lead: hold, card, gone
-- ARGV: buyer, now ms, feed maxlen, n, lead ids...
local buyer, now = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 1, tonumber(ARGV[4]) do
  local lead, k = ARGV[4 + i], 4 + (i - 1) * 3
  local holder, token = hold_parts(redis.call('GET', KEYS[k + 1]))
  if holder == buyer then
    redis.call('DEL', KEYS[k + 1])
    holding_drop(KEYS[1], lead)
    redis.call('ZREM', KEYS[2], lead .. '|' .. buyer .. '|' .. token)
    local card = redis.call('GET', KEYS[k + 2])
    if card and redis.call('EXISTS', KEYS[k + 3]) == 0 then
      announce(KEYS[3], ARGV[3], lead, card, 'released')
    end
    emit(KEYS[4], {kind = 'release', buyer_id = buyer, lead_id = lead, hold_token = token,
                   occurred_ms = now, cell = cell_of(card)})
    out[i] = 'released'
  else
    out[i] = 'not_held'
  end
end
return out
