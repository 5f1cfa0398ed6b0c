"""The Lua scripts of the Redis store: each is one atomic step on the server.

``SAVE`` is a compare-and-set on the session's version (read from the head of
its JSON, so the script never decodes it); ``ACQUIRE``/``RELEASE`` take and give
back a lease (``SET NX PX``, compare-and-delete); ``ACQUIRE_LOAD`` and
``SAVE_RELEASE`` fold the lease into the load and the save, so a turn is two
round trips, as a bare ``GET`` + ``SET`` is. A call redis-py retries after a lost
reply is recognised (the lease's token, the very JSON already stored), so a
retry that went through is no conflict.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple


class Lua(NamedTuple):
    text: str
    sha: str


def _lua(text: str) -> Lua:
    return Lua(text, hashlib.sha1(text.encode()).hexdigest())


# The version check and the write, shared by SAVE and SAVE_RELEASE; $DONE is what runs
# once the session is written (nothing, or the lease given back).
_SAVE_BODY = """
local stored = redis.call('GET', KEYS[1])
local version = 0
if stored then
  if stored == ARGV[2] then $DONE return -1 end  -- a retried call that went through
  version = tonumber(string.match(stored, '^{"version":(%d+),'))
  if not version then return redis.error_reply('the stored value is not a dialogue session') end
end
if version ~= tonumber(ARGV[1]) then return version end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
$DONE return -1
"""

SAVE = _lua(
    """
-- KEYS[1] the session; ARGV[1] the version it was loaded with; ARGV[2] its new JSON
-- (version + 1, written first); ARGV[3] expiry in ms, or '' for none.
-- Returns -1 when saved, otherwise the version stored now (a conflict)."""
    + _SAVE_BODY.replace("$DONE ", "")
)

ACQUIRE = _lua("""
-- KEYS[1] the lease; ARGV[1] the token; ARGV[2] ttl in ms. Returns 1 when the token holds it.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end  -- a retried acquire went through
return 0
""")

RELEASE = _lua("""
-- KEYS[1] the lease; ARGV[1] the token: only its holder deletes it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")


ACQUIRE_LOAD = _lua("""
-- KEYS[1] the lease, KEYS[2] the session; ARGV[1] the token; ARGV[2] ttl in ms.
-- Returns {1, the session or false} when the token holds the lease, else {0, its ms left}.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
    or redis.call('GET', KEYS[1]) == ARGV[1] then  -- (a retried call that went through)
  return {1, redis.call('GET', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
""")

SAVE_RELEASE = _lua(
    """
-- SAVE, then the lease given back. KEYS[1] the session, KEYS[2] the lease; ARGV[1..3] as
-- for SAVE, ARGV[4] the token (only its holder's lease is deleted). Returns as SAVE does;
-- a conflict keeps the lease, for the caller to load again and retry.
local function release()
  if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
end"""
    + _SAVE_BODY.replace("$DONE", "release()")
)


HOLD_TOKENS = _lua("""
-- KEYS[1] a token count; ARGV[1] want, ARGV[2] least, ARGV[3] limit, ARGV[4] ttl in ms.
-- Adds want if the count stays within limit, else what is left if at least least;
-- returns what was added (0: nothing).
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local take = math.min(tonumber(ARGV[1]), tonumber(ARGV[3]) - used)
if take < tonumber(ARGV[2]) or take <= 0 then return 0 end
redis.call('SET', KEYS[1], used + take, 'PX', ARGV[4])
return take
""")

CHARGE_TOKENS = _lua("""
-- KEYS[1] a token count; ARGV[1] tokens to add (negative: give back), ARGV[2] ttl in ms.
-- Returns the new count (never below 0).
local used = math.max(tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1]), 0)
redis.call('SET', KEYS[1], used, 'PX', ARGV[2])
return used
""")
