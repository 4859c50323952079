-- Stripe confirmed a return's refund: record it once.
-- KEYS: order, outbox;  ARGV: lead id, refund id, now ms
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local order = cjson.decode(raw)
local r = type(order.returns) == 'table' and order.returns[ARGV[1]]
if not r or r.status ~= 'refund_pending' then return 0 end
r.status, r.refund_id = 'refunded', ARGV[2]
redis.call('SET', KEYS[1], cjson.encode(order))
emit(KEYS[2], {kind = 'refund', buyer_id = order.buyer_id, lead_id = ARGV[1],
               order_id = order.order_id, payment_intent = order.payment_intent,
               amount_cents = r.cents, reason = ARGV[2], occurred_ms = tonumber(ARGV[3])})
return 1
