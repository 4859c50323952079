-- A payment succeeded: sell each lead of the checkout exactly once, to its buyer.
-- A lead someone else holds or bought meanwhile is not delivered; its price is credited.
-- KEYS: event marker, checkout, buyer's orders, outbox, credit, day totals, holding,
--       hold expiry zset, order, then per lead: hold, gone, sold, contact, card
-- ARGV: now ms, order id, gone ttl s, marker ttl s, payment intent, checkout id, n, lead ids...
local now, order_id = tonumber(ARGV[1]), ARGV[2]
local co = redis.call('HMGET', KEYS[2], 'status', 'buyer_id', 'items', 'order_id',
                      'credit_cents', 'total_cents', 'amount_cents')
if not co[1] then return {'unknown'} end
local buyer, items, pi = co[2], cjson.decode(co[3]), ARGV[5]
for i, item in ipairs(items) do
  if ARGV[7 + i] ~= item.lead_id then return redis.error_reply('lead order mismatch') end
end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[4])) then
  return {'duplicate'}
end
if co[1] == 'paid' then return {'already', co[4]} end

local sold, undelivered, refund = {}, {}, 0
for i, item in ipairs(items) do
  local k = 9 + (i - 1) * 5
  local holder, token = hold_parts(redis.call('GET', KEYS[k + 1]))
  -- Fencing: a hold that ran out and went to someone else is theirs now.
  local taken = holder and holder ~= buyer
  if taken or redis.call('EXISTS', KEYS[k + 3]) == 1 or redis.call('EXISTS', KEYS[k + 2]) == 1 then
    undelivered[#undelivered + 1] = item
    refund = refund + item.cents
    emit(KEYS[4], {kind = 'undeliverable', buyer_id = buyer, lead_id = item.lead_id,
                   order_id = order_id, payment_intent = pi, amount_cents = item.cents,
                   occurred_ms = now})
  else
    redis.call('SET', KEYS[k + 3], order_id)
    redis.call('SET', KEYS[k + 2], 'sold', 'EX', tonumber(ARGV[3]))
    if holder then redis.call('DEL', KEYS[k + 1]) end
    holding_drop(KEYS[7], item.lead_id)
    redis.call('ZREM', KEYS[8], item.lead_id .. '|' .. buyer .. '|' .. (holder and token or item.token))
    local card = redis.call('GET', KEYS[k + 5])
    sold[#sold + 1] = {lead_id = item.lead_id, cents = item.cents,
                       contact = redis.call('GET', KEYS[k + 4]) or '', card = card or ''}
    redis.call('HINCRBY', KEYS[6], 'leads', 1)
    redis.call('HINCRBY', KEYS[6], 'cents', item.cents)
    emit(KEYS[4], {kind = 'sold', buyer_id = buyer, lead_id = item.lead_id, order_id = order_id,
                   payment_intent = pi, hold_token = item.token, amount_cents = item.cents,
                   occurred_ms = now, cell = cell_of(card)})
  end
end
redis.call('EXPIRE', KEYS[6], 172800)
if co[1] == 'canceled' and tonumber(co[5]) > 0 then
  redis.call('DECRBY', KEYS[5], tonumber(co[5]))  -- a cancel gave the credit back
end
if refund > 0 then
  redis.call('INCRBY', KEYS[5], refund)
  emit(KEYS[4], {kind = 'credit', buyer_id = buyer, order_id = order_id, amount_cents = refund,
                 reason = 'undeliverable', occurred_ms = now})
end
local order = {order_id = order_id, buyer_id = buyer, checkout_id = ARGV[6],
               payment_intent = pi, created_ms = now, total_cents = tonumber(co[6]),
               credit_cents = tonumber(co[5]), amount_cents = tonumber(co[7]), leads = sold,
               undelivered = undelivered, returns = {}, card_refunded_cents = 0}
redis.call('SET', KEYS[9], cjson.encode(order))
redis.call('ZADD', KEYS[3], now, order_id)
redis.call('HSET', KEYS[2], 'status', 'paid', 'order_id', order_id)
emit(KEYS[4], {kind = 'paid', buyer_id = buyer, order_id = order_id, payment_intent = pi,
               checkout_id = order.checkout_id, amount_cents = tonumber(co[7]),
               credit_cents = tonumber(co[5]), occurred_ms = now})
return {'sold', cjson.encode(order)}
