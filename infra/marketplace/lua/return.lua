-- Return one bought lead within the window, once: refund to the card it was paid with
-- (recorded as pending until Stripe confirms) or credit the buyer's balance at once.
-- KEYS: order, credit, outbox
-- ARGV: buyer, lead id, reason, now ms, window ms, 'card' or 'credit'
local raw = redis.call('GET', KEYS[1])
if not raw then return {'not_found'} end
local order = cjson.decode(raw)
if order.buyer_id ~= ARGV[1] then return {'not_found'} end
local lead, now = ARGV[2], tonumber(ARGV[4])
local item
for _, it in ipairs(order.leads) do if it.lead_id == lead then item = it end end
if not item then return {'not_in_order'} end
if type(order.returns) ~= 'table' then order.returns = {} end
if order.returns[lead] then return {'already', cjson.encode(order.returns[lead])} end
if now - order.created_ms > tonumber(ARGV[5]) then return {'too_late'} end
local to = ARGV[6]
local card_left = order.amount_cents - order.card_refunded_cents
if to == 'card' and (order.payment_intent == '' or card_left < item.cents) then to = 'credit' end
local r = {reason = ARGV[3], returned_ms = now, cents = item.cents, to = to,
           status = to == 'credit' and 'credited' or 'refund_pending', refund_id = ''}
if to == 'credit' then
  redis.call('INCRBY', KEYS[2], item.cents)
else
  order.card_refunded_cents = order.card_refunded_cents + item.cents
end
order.returns[lead] = r
redis.call('SET', KEYS[1], cjson.encode(order))
emit(KEYS[3], {kind = 'return', buyer_id = order.buyer_id, lead_id = lead,
               order_id = order.order_id, payment_intent = order.payment_intent,
               amount_cents = item.cents, reason = ARGV[3], occurred_ms = now})
if to == 'credit' then
  emit(KEYS[3], {kind = 'credit', buyer_id = order.buyer_id, lead_id = lead,
                 order_id = order.order_id, amount_cents = item.cents, reason = 'return',
                 occurred_ms = now})
end
return {'returned', cjson.encode(r)}
