-- One rate-limit decision, atomic: admit only if every window has room,
-- then count in all of them; a refused request counts in none.
-- KEYS[i]  counter of window i (all share one hash tag, so one Cluster slot)
-- ARGV[i]  limit of window i
-- ARGV[n+i] expiry of window i in ms (until its end plus a margin)
-- Returns {admitted (1/0), count_1, ..., count_n}: counts after the increment
-- when admitted, untouched when refused.
local n = #KEYS
local current = redis.call('MGET', unpack(KEYS))
local reply = {1}
for i = 1, n do
  local count = tonumber(current[i]) or 0
  reply[i + 1] = count
  if count >= tonumber(ARGV[i]) then
    reply[1] = 0
  end
end
if reply[1] == 0 then
  return reply
end
for i = 1, n do
  local count = redis.call('INCR', KEYS[i])
  reply[i + 1] = count
  if count == 1 then
    redis.call('PEXPIRE', KEYS[i], ARGV[n + i])
  end
end
return reply
