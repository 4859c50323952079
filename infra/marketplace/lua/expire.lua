-- Holds whose time ran out by the caller's clock (Redis drops the key at its PXAT, or
-- here): the lead is available again; this puts it back in the live feed and records the
-- expiry. Idempotent.
-- KEYS: hold expiry zset, all feed, outbox
-- ARGV: now ms, feed maxlen, at most this many, key prefix
-- Keys below are built from the prefix: one Redis, not a cluster (see docs/operations.md).
local now, prefix = tonumber(ARGV[1]), ARGV[4]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local lead, buyer, token = string.match(member, '^(.-)|(.-)|(%d+)$')
  local hold = prefix .. 'hold:' .. lead
  local holder, current, expires = hold_parts(redis.call('GET', hold))
  if holder == buyer and current == tonumber(token) and expires <= now then
    -- Due by the caller's clock while Redis still keeps the key: Redis drops a key only
    -- once its clock is past the PXAT, and a script reads Redis's time as of its start.
    -- Skipping it would lose the lead from the feed (its entry is removed above).
    redis.call('DEL', hold)
    holder = nil
  end
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
