-- A payment failed or was canceled: record it once. The holds stay until they expire;
-- a cancel gives back the credit the checkout had taken.
-- KEYS: event marker, checkout, credit, outbox
-- ARGV: status ('failed' or 'canceled'), now ms, marker ttl s, payment intent, reason
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[3])) then
  return 'duplicate'
end
local co = redis.call('HMGET', KEYS[2], 'status', 'buyer_id', 'credit_cents')
if not co[1] then return 'unknown' end
if co[1] == 'paid' or co[1] == 'canceled' then return co[1] end
redis.call('HSET', KEYS[2], 'status', ARGV[1])
if ARGV[1] == 'canceled' and tonumber(co[3]) > 0 then
  redis.call('INCRBY', KEYS[3], tonumber(co[3]))
end
emit(KEYS[4], {kind = 'payment_' .. ARGV[1], buyer_id = co[2], payment_intent = ARGV[4],
               reason = ARGV[5], occurred_ms = tonumber(ARGV[2])})
return ARGV[1]
