// The Lua scripts RedisBus runs (EVAL): each multi-step operation is atomic on
// the server. Field names: see redis_bus.hpp.
#pragma once

namespace hive::communication_engine::scripts {

// Helpers prepended to every script.
inline constexpr const char kHelpers[] = R"lua(
local function field(f, name)
  for i = 1, #f, 2 do if f[i] == name then return f[i + 1] end end
  return false
end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-?(%d*)$')
  return tonumber(ms), tonumber(seq) or 0
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am < bm end
  return as < bs
end
local function successor(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. string.format('%d', tonumber(seq) + 1)
end
)lua";

// KEYS: events. ARGV: history, topic, payload, channel. -> id
inline constexpr const char kPublish[] = R"lua(
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 't', ARGV[2], 'p', ARGV[3])
redis.call('PUBLISH', ARGV[4], id .. ' ' .. ARGV[3])
return id
)lua";

// KEYS: events. ARGV: afterId, limit, Lua pattern. -> {{id, topic, payload}...}
// Once the history dropped events, an afterId older than its first event is
// OUTOFRANGE (also when afterId was exactly the newest dropped one: the history
// does not record which that was).
inline constexpr const char kReplay[] = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  local first = field(info, 'recorded-first-entry-id')
  if field(info, 'entries-added') > field(info, 'length') and first and less(ARGV[1], first) then
    return redis.error_reply('OUTOFRANGE events after ' .. ARGV[1] .. ' are no longer in the history')
  end
end
local out = {}
local limit = tonumber(ARGV[2])
local start = '(' .. ARGV[1]
while #out < limit do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 256)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    local topic = field(e[2], 't')
    if topic and string.match(topic, ARGV[3]) then
      out[#out + 1] = {e[1], topic, field(e[2], 'p')}
      if #out >= limit then break end
    end
  end
  start = '(' .. batch[#batch][1]
  if #batch < 256 then break end
end
return out
)lua";

// KEYS: stream, groups. ARGV: group, start id ('0' or '$'), maxDeliveries.
inline constexpr const char kCreateGroup[] = R"lua(
local r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM')
if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP') then return r end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 'OK'
)lua";

// Moves a pending id to the dead letters and acks it. Needs: KEYS[1] stream,
// KEYS[2] dlq, group, id, reason, deliveries.
inline constexpr const char kMoveHelper[] = R"lua(
local function move(stream, dlq, group, id, reason, deliveries)
  local e = redis.call('XRANGE', stream, id, id)
  local payload = ''
  if #e > 0 then payload = field(e[1][2], 'p') or '' end
  local dead = redis.call('XADD', dlq, '*', 'g', group, 'o', id, 'p', payload, 'r', reason, 'd', deliveries)
  redis.call('XACK', stream, group, id)
  return dead
end
)lua";

// KEYS: stream, dlq, groups. ARGV: group, consumer, minIdle, count.
// -> {{{id, payload, deliveries}...}, deadLettered}
inline constexpr const char kClaimIdle[] = R"lua(
local max = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '5')
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', ARGV[4])
local out = {}
local dead = 0
for _, p in ipairs(pending) do
  local id, deliveries = p[1], p[4]
  if max > 0 and deliveries >= max then
    move(KEYS[1], KEYS[2], ARGV[1], id, 'delivered ' .. deliveries .. ' times', deliveries)
    dead = dead + 1
  else
    local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], id)
    if #claimed > 0 and type(claimed[1]) == 'table' then
      out[#out + 1] = {id, field(claimed[1][2], 'p') or '', deliveries + 1}
    end
  end
end
return {out, dead}
)lua";

// KEYS: stream, dlq. ARGV: group, id, reason. -> dead-letter id
inline constexpr const char kDeadLetter[] = R"lua(
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then
  return redis.error_reply('NOTPENDING message ' .. ARGV[2] .. ' is not pending in group ' .. ARGV[1])
end
return move(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], p[1][4])
)lua";

// KEYS: dlq. ARGV: group, limit. -> {{id, fields}...}
inline constexpr const char kDeadLetters[] = R"lua(
local out = {}
local limit = tonumber(ARGV[2])
local start = '-'
while #out < limit do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 256)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    if field(e[2], 'g') == ARGV[1] then
      out[#out + 1] = e
      if #out >= limit then break end
    end
  end
  start = '(' .. batch[#batch][1]
  if #batch < 256 then break end
end
return out
)lua";

// KEYS: stream, dlq. ARGV: group, ids... (none: all of the group's). -> count
inline constexpr const char kReplayDeadLetters[] = R"lua(
local chosen = {}
if #ARGV > 1 then
  for i = 2, #ARGV do
    local e = redis.call('XRANGE', KEYS[2], ARGV[i], ARGV[i])
    if #e > 0 then chosen[#chosen + 1] = e[1] end
  end
else
  local start = '-'
  while true do
    local batch = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 256)
    for _, e in ipairs(batch) do chosen[#chosen + 1] = e end
    if #batch < 256 then break end
    start = '(' .. batch[#batch][1]
  end
end
local n = 0
for _, e in ipairs(chosen) do
  if field(e[2], 'g') == ARGV[1] then
    redis.call('XADD', KEYS[1], '*', 'p', field(e[2], 'p') or '')
    redis.call('XDEL', KEYS[2], e[1])
    n = n + 1
  end
end
return n
)lua";

// KEYS: stream. ARGV: maxLength. Keeps the newest maxLength messages and every
// message a group still needs (pending, or not yet delivered). -> dropped
inline constexpr const char kTrim[] = R"lua(
local length = redis.call('XLEN', KEYS[1])
local keep = tonumber(ARGV[1])
if length <= keep then return 0 end
local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', length - keep)
local minid = successor(old[#old][1])
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name = field(g, 'name')
  local undelivered = successor(field(g, 'last-delivered-id'))
  if less(undelivered, minid) then minid = undelivered end
  local summary = redis.call('XPENDING', KEYS[1], name)
  if summary[1] > 0 and less(summary[2], minid) then minid = summary[2] end
end
redis.call('XTRIM', KEYS[1], 'MINID', minid)
return length - redis.call('XLEN', KEYS[1])
)lua";

}  // namespace hive::communication_engine::scripts
