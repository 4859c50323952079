-- Reserve a checkout for leads the buyer holds now: all or nothing. The holds are kept at
-- least until `lock_until` so the payment has time; credit is taken off the amount.
-- KEYS: holding, hold expiry zset, credit, checkout hash, outbox,
--       then per lead: hold, gone, sold
-- ARGV: buyer, checkout id, now ms, lock until ms, n, lead ids...
local buyer, id, now, lock = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local n = tonumber(ARGV[5])
-- Run again (a client retry after a lost reply): the reservation as made the first time.
local made = redis.call('HMGET', KEYS[4], 'items', 'total_cents', 'credit_cents')
if made[1] then return {'ok', made[1], made[2], made[3]} end
local items, refused, total = {}, {}, 0
for i = 1, n do
  local lead, k = ARGV[5 + i], 5 + (i - 1) * 3
  local holder, token, expires = hold_parts(redis.call('GET', KEYS[k + 1]))
  local t, _, cents = holding_parts(redis.call('HGET', KEYS[1], lead))
  if redis.call('EXISTS', KEYS[k + 3]) == 1 or redis.call('EXISTS', KEYS[k + 2]) == 1 then
    refused[#refused + 1] = {lead_id = lead, result = 'sold'}
  elseif holder ~= buyer or expires <= now or t ~= token then
    refused[#refused + 1] = {lead_id = lead, result = 'not_held'}
  else
    items[#items + 1] = {lead_id = lead, token = token, cents = cents}
    total = total + cents
  end
end
if #refused > 0 then return {'refused', cjson.encode(refused)} end

for i, item in ipairs(items) do
  local k = 5 + (i - 1) * 3
  local _, _, expires = hold_parts(redis.call('GET', KEYS[k + 1]))
  if lock > expires then
    local _, _, cents, started = holding_parts(redis.call('HGET', KEYS[1], item.lead_id))
    redis.call('SET', KEYS[k + 1], buyer .. '|' .. item.token .. '|' .. lock, 'PXAT', lock)
    holding_put(KEYS[1], item.lead_id, item.token, lock, cents, started)
    redis.call('ZADD', KEYS[2], lock, item.lead_id .. '|' .. buyer .. '|' .. item.token)
  end
end

-- Stripe charges at least 50 cents: credit never leaves less than that to pay.
local credit = tonumber(redis.call('GET', KEYS[3]) or '0')
local use = math.min(credit, total)
if total - use > 0 and total - use < 50 then use = math.max(0, total - 50) end
if use > 0 then redis.call('DECRBY', KEYS[3], use) end
redis.call('HSET', KEYS[4], 'buyer_id', buyer, 'items', cjson.encode(items),
           'total_cents', total, 'credit_cents', use, 'amount_cents', total - use,
           'status', 'pending', 'created_ms', now)
emit(KEYS[5], {kind = 'checkout', buyer_id = buyer, checkout_id = id, amount_cents = total - use,
               credit_cents = use, occurred_ms = now})
return {'ok', cjson.encode(items), tostring(total), tostring(use)}
