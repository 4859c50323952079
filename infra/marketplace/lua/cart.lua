-- Add leads to a buyer's cart (a list to decide on; nothing is reserved) or take them out.
-- KEYS: cart zset, outbox, then per lead: card, gone
-- ARGV: 'add' or 'remove', buyer, now ms, max items, n, lead ids...
local op, buyer, now, max_items = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 1, tonumber(ARGV[5]) do
  local lead, k = ARGV[5 + i], 2 + (i - 1) * 2
  if op == 'remove' then
    if redis.call('ZREM', KEYS[1], lead) == 1 then
      emit(KEYS[2], {kind = 'cart_remove', buyer_id = buyer, lead_id = lead, occurred_ms = now})
      out[i] = 'removed'
    else
      out[i] = 'not_found'
    end
  elseif redis.call('EXISTS', KEYS[k + 2]) == 1 then
    out[i] = 'sold'
  elseif redis.call('EXISTS', KEYS[k + 1]) == 0 then
    out[i] = 'not_found'
  elseif redis.call('ZSCORE', KEYS[1], lead) then
    out[i] = 'added'
  elseif redis.call('ZCARD', KEYS[1]) >= max_items then
    out[i] = 'over_limit'
  else
    redis.call('ZADD', KEYS[1], now, lead)
    emit(KEYS[2], {kind = 'cart_add', buyer_id = buyer, lead_id = lead, occurred_ms = now})
    out[i] = 'added'
  end
end
return out
