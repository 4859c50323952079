-- Holds whose time ran out: Redis already dropped the hold key (its PXAT), so the lead is
-- available; this puts it back in the live feed and records the expiry. Idempotent.
-- KEYS: hold expiry zset, all feed, outbox
-- ARGV: now ms, feed maxlen, at most this many, key prefix
-- Keys below are built from the prefix: one Redis, not a cluster (see docs/operations.md).
local now, prefix = tonumber(ARGV[1]), ARGV[4]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local lead, buyer, token = string.match(member, '^(.-)|(.-)|(%d+)$')
  local holder, current = hold_parts(redis.call('GET', prefix .. 'hold:' .. lead))
  if not (holder == buyer and current == tonumber(token)) then
    local holding = prefix .. 'holding:' .. buyer
    local t = holding_parts(redis.call('HGET', holding, lead))
    if t == tonumber(token) then holding_drop(holding, lead) end
    local card = redis.call('GET', prefix .. 'lead:' .. lead)
    if not holder and card and redis.call('EXISTS', prefix .. 'gone:' .. lead) == 0 then
      announce(KEYS[2], ARGV[2], lead, card, 'expired')
    end
    emit(KEYS[3], {kind = 'hold_expired', buyer_id = buyer, lead_id = lead,
                   hold_token = tonumber(token), occurred_ms = now, cell = cell_of(card)})
  end
end
return #due
