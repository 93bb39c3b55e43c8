//! Shared conversation state in Redis ([`RedisLedger`]): totals (below),
//! once-flags, WhatsApp windows and the lifecycle, each one Lua script call
//! run in order on the ledger's thread (see the scripts' comments).
//!
//! Each conversation is one hash, `{prefix}:{<conversation id>}:totals`
//! (fields `llm`, `wa`, `eval` in picodollars and `calls`), updated by one
//! Lua script per priced event: the script first sets the addition's own key
//! (`...:op:<id>`, `SET NX`), so a retried addition counts once, then adds
//! every part with `HINCRBY`, renews the expiry and returns the totals:
//! atomic, exact (integers), and the braces keep a conversation's keys in
//! one Redis Cluster slot. Priced events do not wait for it: they hand the
//! addition to the ledger's thread, which sends every addition waiting in
//! one pipelined round trip (up to 256) and, with Redis' answer, gives the
//! listeners the shared totals (the budget alert is checked there).
//!
//! Redis runs on a thread of its own (a current-thread tokio runtime with a
//! multiplexed, reconnecting `ConnectionManager`), so it works whether or not
//! the bot uses tokio. A priced event waits for the answer at most
//! `state.timeout_ms`. While Redis is unreachable the ledger is *degraded*:
//! events no longer wait at all, their additions queue (at most
//! `state.max_pending`, older ones dropped and counted) and are replayed, in
//! order and each once, as soon as Redis answers again, so the totals
//! converge. Degradation is logged once when it starts and once when it ends,
//! counted in [`StateStats`], and shown by [`RedisLedger::is_degraded`]
//! (`/health/ready` reports it).

use crate::config::StateConfig;
use chatobs_cost::shared::{
    ClosedRecord, Delta, OnceThen, OpenRequest, OpenThen, Opened, Parts, SharedLedger, Then,
    WindowStored,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most additions sent in one round trip.
const MAX_BATCH: usize = 256;

/// Why an addition did not land.
enum AddError {
    /// Redis is unreachable or did not answer: queue and replay.
    Unavailable(#[allow(dead_code)] String),
    /// Redis answered with an error for it: replaying would fail again.
    Refused(String),
}

const ADD_SCRIPT: &str = r"
local ttl = tonumber(ARGV[1])
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ttl) then
  redis.call('HINCRBY', KEYS[1], 'llm', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'wa', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'eval', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'calls', ARGV[5])
  if tonumber(ARGV[6]) > 0 then
    redis.call('HINCRBY', KEYS[1], 'in', ARGV[6])
    redis.call('HSET', KEYS[1], 'awaiting', '1')
  end
  if tonumber(ARGV[7]) > 0 then
    redis.call('HINCRBY', KEYS[1], 'out', ARGV[7])
    if redis.call('HGET', KEYS[1], 'awaiting') == '1' then
      redis.call('HINCRBY', KEYS[1], 'turns', 1)
      redis.call('HSET', KEYS[1], 'awaiting', '0')
    end
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('HMGET', KEYS[1], 'llm', 'wa', 'eval', 'calls', 'in', 'out', 'turns')
";

/// Lua shared by the lifecycle scripts: a conversation's record as a flat
/// list of 11 strings (id, user, opened, last, outcome, llm, wa, eval,
/// calls, in, out, turns minus the id: see `record`).
const DESCRIBE: &str = r"
local function describe(p, id)
  local m = redis.call('HMGET', p .. ':{' .. id .. '}:meta', 'user', 'opened', 'last', 'outcome')
  local t = redis.call('HMGET', p .. ':{' .. id .. '}:totals', 'llm', 'wa', 'eval', 'calls', 'in', 'out', 'turns')
  local r = {id, m[1] or '', m[2] or '0', m[3] or '0', m[4] or ''}
  for i = 1, 7 do r[#r + 1] = t[i] or '0' end
  return r
end
local function unlink_user(p, id)
  local user = redis.call('HGET', p .. ':{' .. id .. '}:meta', 'user')
  if user then
    local uk = p .. ':user:{' .. user .. '}'
    if redis.call('GET', uk) == id then redis.call('DEL', uk) end
  end
end
";

/// Fields per conversation record.
const RECORD_FIELDS: usize = 12;

/// Open or find (KEYS: user key, due set; ARGV: prefix, now, candidate,
/// deadline, ttl, extend, user) -> {id, opened, new, [expired record]}.
const OPEN_SCRIPT: &str = r"
local p, now = ARGV[1], tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
local out = {}
if cur then
  local meta = p .. ':{' .. cur .. '}:meta'
  local dl = tonumber(redis.call('HGET', meta, 'deadline') or '0')
  if dl > now then
    if ARGV[6] == '1' and tonumber(ARGV[4]) > dl then
      redis.call('HSET', meta, 'deadline', ARGV[4])
      redis.call('ZADD', KEYS[2], ARGV[4], cur)
    end
    if now > tonumber(redis.call('HGET', meta, 'last') or '0') then
      redis.call('HSET', meta, 'last', ARGV[2])
    end
    redis.call('PEXPIRE', meta, ARGV[5])
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
    return {cur, redis.call('HGET', meta, 'opened') or ARGV[2], '0'}
  end
  if redis.call('ZREM', KEYS[2], cur) == 1 then out = describe(p, cur) end
end
local id = ARGV[3]
local meta = p .. ':{' .. id .. '}:meta'
redis.call('HSET', meta, 'user', ARGV[7], 'opened', ARGV[2], 'last', ARGV[2], 'deadline', ARGV[4])
redis.call('PEXPIRE', meta, ARGV[5])
redis.call('SET', KEYS[1], id, 'PX', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], id)
local r = {id, ARGV[2], '1'}
for i = 1, #out do r[#r + 1] = out[i] end
return r
";

/// Claim one (KEYS: due set; ARGV: prefix, id) -> record or {}.
const CLOSE_SCRIPT: &str = r"
if redis.call('ZREM', KEYS[1], ARGV[2]) == 1 then
  local r = describe(ARGV[1], ARGV[2])
  unlink_user(ARGV[1], ARGV[2])
  return r
end
return {}
";

/// Claim the due ones (KEYS: due set; ARGV: prefix, now, max) -> records.
const DUE_SCRIPT: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    local r = describe(ARGV[1], id)
    unlink_user(ARGV[1], id)
    for i = 1, #r do out[#out + 1] = r[i] end
  end
end
return out
";

/// The open conversation of a user (KEYS: user key, ARGV: prefix, now) -> {id} or {}.
const FIND_SCRIPT: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  local dl = tonumber(redis.call('HGET', ARGV[1] .. ':{' .. cur .. '}:meta', 'deadline') or '0')
  if dl > tonumber(ARGV[2]) then return {cur} end
end
return {}
";

/// Set an outcome (KEYS: meta; ARGV: outcome).
const OUTCOME_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'outcome', ARGV[1]) end
return {}
";

/// A once-flag (KEYS: flag; ARGV: ttl) -> {'1'} when this call set it.
const ONCE_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return {'1'} end
return {'0'}
";

/// Window state (KEYS: state hash) -> {version, state}.
const WINDOW_LOAD_SCRIPT: &str = r"
local v = redis.call('HMGET', KEYS[1], 'v', 's')
return {v[1] or '0', v[2] or ''}
";

/// Compare-and-set of a window state with its monthly counter (KEYS: state
/// hash, counter or the state hash again; ARGV: version, state, ttl,
/// counter ttl, has counter) -> {'ok', version, count} or {'conflict', version, state}.
const WINDOW_STORE_SCRIPT: &str = r"
local v = redis.call('HMGET', KEYS[1], 'v', 's')
if (v[1] or '0') ~= ARGV[1] then return {'conflict', v[1] or '0', v[2] or ''} end
local nv = tostring(tonumber(ARGV[1]) + 1)
redis.call('HSET', KEYS[1], 'v', nv, 's', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local c = ''
if ARGV[5] == '1' then
  c = tostring(redis.call('INCR', KEYS[2]))
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return {'ok', nv, c}
";

/// How the Redis ledger has fared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateStats {
    /// Additions Redis took (replays included).
    pub added: u64,
    /// Additions replayed after an outage.
    pub replayed: u64,
    /// Additions waiting for Redis now.
    pub pending: u64,
    /// Additions dropped because the replay queue was full.
    pub dropped: u64,
    /// Events that did not get Redis' answer in time (or during an outage).
    pub timed_out: u64,
    /// Outages seen (the ledger turned degraded).
    pub outages: u64,
    /// Whether Redis is unreachable now.
    pub degraded: bool,
}

#[derive(Default)]
struct Shared {
    degraded: AtomicBool,
    added: AtomicU64,
    replayed: AtomicU64,
    pending: AtomicU64,
    dropped: AtomicU64,
    timed_out: AtomicU64,
    outages: AtomicU64,
    /// Scripts queued off the callers' paths (once-claims, deadline moves)
    /// whose continuation has not run yet: a flush waits for them too (a
    /// continuation may queue one behind the flush itself).
    inflight: AtomicU64,
}

/// Who waits for an addition's outcome.
enum Reply {
    /// Nobody (a queued addition whose caller did not wait).
    None,
    /// A caller waiting at most the timeout.
    Channel(SyncSender<Result<Parts, String>>),
    /// A continuation, run on this thread when Redis has answered (kept
    /// through an outage and run at the replay).
    Then(Then),
}

impl Reply {
    fn send(self, r: Result<Parts, String>) {
        match self {
            Reply::None => {}
            Reply::Channel(c) => {
                let _ = c.try_send(r);
            }
            Reply::Then(f) => f(r),
        }
    }
}

enum Req {
    Add {
        conversation: String,
        op: u128,
        delta: Delta,
        reply: Reply,
    },
    Flush {
        reply: SyncSender<()>,
    },
    Get {
        conversation: String,
        reply: SyncSender<Result<Parts, String>>,
    },
    /// Work off a caller's path (an inbound message's window update).
    Job(chatobs_cost::shared::Job),
    /// One script (lifecycle, once-flags, windows), in order with the additions.
    Eval {
        script: Script,
        keys: Vec<String>,
        args: Vec<String>,
        reply: EvalReply,
    },
    Stop,
}

/// A script and its source (the prelude it needs prepended).
#[derive(Clone, Copy)]
struct Script(&'static str, bool);

/// Who waits for a script's answer.
enum EvalReply {
    Then(Box<dyn FnOnce(Result<Vec<String>, String>) + Send>),
}

impl EvalReply {
    fn send(self, r: Result<Vec<String>, String>) {
        match self {
            EvalReply::Then(f) => f(r),
        }
    }
}

/// Conversation totals shared through Redis (see the module docs).
pub struct RedisLedger {
    tx: SyncSender<Req>,
    timeout: Duration,
    prefix: String,
    ttl_ms: u64,
    direct: Direct,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for RedisLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLedger")
            .field("degraded", &self.is_degraded())
            .finish()
    }
}

impl RedisLedger {
    /// Starts the ledger for `cfg.url` (checked by `StateConfig`'s
    /// validation). Connecting happens on the ledger's thread: an unreachable
    /// Redis at start is an outage like any other, not an error.
    pub fn start(cfg: &StateConfig) -> Result<RedisLedger, chatobs_core::Error> {
        let client = redis::Client::open(cfg.url.trim()).map_err(|_| {
            chatobs_core::Error::InvalidInput(
                "state.url: not a valid redis:// URL (the value is not shown: it may hold a password)".into(),
            )
        })?;
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let shared = Arc::new(Shared::default());
        // Bounded: a flood of events beyond what the thread drains waits at
        // most the timeout to be queued, then counts as timed out.
        let (tx, rx) = sync_channel::<Req>(65_536);
        let worker = Worker {
            client: client.clone(),
            conn: None,
            prefix: cfg.key_prefix.clone(),
            ttl_ms: cfg.ttl_hours.saturating_mul(3_600_000),
            timeout,
            max_pending: cfg.max_pending.max(1),
            pending: VecDeque::new(),
            shared: shared.clone(),
            next_retry: Instant::now(),
        };
        let direct = Direct {
            client,
            idle: std::sync::Mutex::new(Vec::new()),
            retry_at: std::sync::Mutex::new(None),
            timeout,
        };
        let thread = std::thread::Builder::new()
            .name("chatobs-state".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| {
                chatobs_core::Error::InvalidInput(format!("cannot start the state thread: {e}"))
            })?;
        Ok(RedisLedger {
            tx,
            timeout,
            prefix: cfg.key_prefix.clone(),
            ttl_ms: cfg.ttl_hours.saturating_mul(3_600_000),
            direct,
            shared,
            thread: Some(thread),
        })
    }

    /// Whether Redis is unreachable now (additions queue for replay).
    pub fn is_degraded(&self) -> bool {
        self.shared.degraded.load(Ordering::Relaxed)
    }

    /// The counters.
    pub fn stats(&self) -> StateStats {
        let s = &self.shared;
        StateStats {
            added: s.added.load(Ordering::Relaxed),
            replayed: s.replayed.load(Ordering::Relaxed),
            pending: s.pending.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            timed_out: s.timed_out.load(Ordering::Relaxed),
            outages: s.outages.load(Ordering::Relaxed),
            degraded: s.degraded.load(Ordering::Relaxed),
        }
    }

    /// Waits (at most `timeout`) until every addition sent before has had
    /// its answer (or was queued for replay).
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let (rtx, rrx) = sync_channel(1);
            if self.tx.send(Req::Flush { reply: rtx }).is_err() {
                return false;
            }
            if rrx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_err()
            {
                return false;
            }
            if self.shared.inflight.load(Ordering::Acquire) == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Queues a script whose continuation runs on the state thread.
    fn eval_then(
        &self,
        script: Script,
        keys: Vec<String>,
        args: Vec<String>,
        then: Box<dyn FnOnce(Result<Vec<String>, String>) + Send>,
    ) {
        self.shared.inflight.fetch_add(1, Ordering::AcqRel);
        let shared = self.shared.clone();
        let reply = EvalReply::Then(Box::new(move |r| {
            then(r);
            shared.inflight.fetch_sub(1, Ordering::AcqRel);
        }));
        if let Err(e) = self.tx.try_send(Req::Eval {
            script,
            keys,
            args,
            reply,
        }) {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            if let std::sync::mpsc::TrySendError::Full(Req::Eval { reply, .. })
            | std::sync::mpsc::TrySendError::Disconnected(Req::Eval { reply, .. }) = e
            {
                reply.send(Err("the state thread is behind".into()));
            }
        }
    }

    fn ask<T>(&self, make: impl FnOnce(SyncSender<Result<T, String>>) -> Req) -> Result<T, String> {
        let (rtx, rrx) = sync_channel(1);
        let deadline = Instant::now() + self.timeout;
        let mut req = make(rtx);
        // Never block past the deadline to enqueue either.
        loop {
            match self.tx.try_send(req) {
                Ok(()) => break,
                Err(std::sync::mpsc::TrySendError::Full(r)) => {
                    if Instant::now() >= deadline {
                        self.shared.timed_out.fetch_add(1, Ordering::Relaxed);
                        return Err("the state thread is behind".into());
                    }
                    req = r;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                    return Err("the state thread has stopped".into())
                }
            }
        }
        match rrx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(r) => r,
            Err(_) => {
                self.shared.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(format!(
                    "no answer from Redis within {} ms",
                    self.timeout.as_millis()
                ))
            }
        }
    }
}

impl RedisLedger {
    fn key(&self, conversation: &str, what: &str) -> String {
        format!("{}:{{{conversation}}}:{what}", self.prefix)
    }

    fn user_key(&self, user: &str) -> String {
        format!("{}:user:{{{user}}}", self.prefix)
    }

    fn due_key(&self) -> String {
        format!("{}:due", self.prefix)
    }

    /// Keys outlive a conversation's deadline by the state TTL.
    fn lifecycle_ttl(&self) -> u64 {
        let close_after = chatobs_cost::conversation::lifecycle().close_after;
        self.ttl_ms
            .saturating_add(u64::try_from(close_after.as_millis()).unwrap_or(u64::MAX / 2))
    }

    fn open_args(&self, req: &OpenRequest<'_>) -> Vec<String> {
        vec![
            self.prefix.clone(),
            req.now_ms.to_string(),
            req.candidate.to_owned(),
            req.deadline_ms.to_string(),
            self.lifecycle_ttl().to_string(),
            if req.extend { "1" } else { "0" }.to_owned(),
            req.user.to_owned(),
        ]
    }

    /// Runs `script` on the caller's thread over a connection of the direct
    /// pool (a blocking socket with the timeout: no hand-off to the state
    /// thread, whose wake-ups cost more than Redis itself).
    fn eval(
        &self,
        script: Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Vec<String>, String> {
        if self.is_degraded() {
            self.shared.timed_out.fetch_add(1, Ordering::Relaxed);
            return Err("Redis is unreachable (degraded)".into());
        }
        let r = self.direct.eval(script, &keys, &args);
        if r.is_err() {
            self.shared.timed_out.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

/// The open script's answer.
fn opened(v: &[String], now_ms: i64) -> Result<Opened, String> {
    if v.len() < 3 {
        return Err(format!("the open script answered {} fields", v.len()));
    }
    Ok(Opened {
        id: v[0].clone(),
        opened_ms: v[1].parse().unwrap_or(now_ms),
        new: v[2] == "1",
        expired: record(&v[3..]),
    })
}

/// Blocking connections for the calls a caller waits for (at most the
/// timeout each): windows, opening and closing conversations.
struct Direct {
    client: redis::Client,
    idle: std::sync::Mutex<Vec<redis::Connection>>,
    /// After a failed connect, no new attempt before this instant.
    retry_at: std::sync::Mutex<Option<Instant>>,
    timeout: Duration,
}

impl Direct {
    fn connection(&self) -> Result<redis::Connection, String> {
        if let Some(c) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(c);
        }
        {
            let r = self.retry_at.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_some_and(|t| Instant::now() < t) {
                return Err("Redis is unreachable (retrying each second)".into());
            }
        }
        let c = self
            .client
            .get_connection_with_timeout(self.timeout)
            .and_then(|c| {
                c.set_read_timeout(Some(self.timeout))?;
                c.set_write_timeout(Some(self.timeout))?;
                Ok(c)
            });
        match c {
            Ok(c) => Ok(c),
            Err(e) => {
                *self.retry_at.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + Duration::from_secs(1));
                Err(describe(&e))
            }
        }
    }

    fn eval(
        &self,
        script: Script,
        keys: &[String],
        args: &[String],
    ) -> Result<Vec<String>, String> {
        let mut c = self.connection()?;
        let mut cmd = redis::cmd("EVAL");
        if script.1 {
            cmd.arg(format!("{DESCRIBE}{}", script.0));
        } else {
            cmd.arg(script.0);
        }
        cmd.arg(keys.len());
        for k in keys {
            cmd.arg(k);
        }
        for a in args {
            cmd.arg(a);
        }
        match cmd.query::<Vec<String>>(&mut c) {
            Ok(v) => {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < 32 {
                    idle.push(c);
                }
                Ok(v)
            }
            // The connection is dropped: a timed-out one may hold a late answer.
            Err(e) => Err(describe(&e)),
        }
    }
}

/// A conversation record from [`RECORD_FIELDS`] strings.
fn record(f: &[String]) -> Option<chatobs_cost::shared::ClosedRecord> {
    if f.len() < RECORD_FIELDS {
        return None;
    }
    let n = |i: usize| f[i].parse::<i64>().unwrap_or(0);
    Some(chatobs_cost::shared::ClosedRecord {
        id: f[0].clone(),
        user: f[1].clone(),
        opened_ms: n(2),
        last_ms: n(3),
        outcome: (!f[4].is_empty()).then(|| f[4].clone()),
        parts: Parts {
            llm_pico: n(5),
            whatsapp_pico: n(6),
            evaluation_pico: n(7),
            llm_calls: n(8),
            messages_in: n(9),
            messages_out: n(10),
            turns: n(11),
        },
    })
}

impl SharedLedger for RedisLedger {
    fn add(&self, conversation: &str, op: u128, delta: Delta) -> Result<Parts, String> {
        if self.is_degraded() {
            // During an outage nothing waits: queue the addition for replay.
            self.shared.timed_out.fetch_add(1, Ordering::Relaxed);
            if self
                .tx
                .try_send(Req::Add {
                    conversation: conversation.to_owned(),
                    op,
                    delta,
                    reply: Reply::None,
                })
                .is_err()
            {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            return Err("Redis is unreachable (degraded): counted locally, replayed later".into());
        }
        self.ask(|reply| Req::Add {
            conversation: conversation.to_owned(),
            op,
            delta,
            reply: Reply::Channel(reply),
        })
    }

    fn add_then(&self, conversation: &str, op: u128, delta: Delta, then: Then) {
        // Never waits: the state thread runs `then` when Redis has answered.
        if let Err(e) = self.tx.try_send(Req::Add {
            conversation: conversation.to_owned(),
            op,
            delta,
            reply: Reply::Then(then),
        }) {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            let req = match e {
                std::sync::mpsc::TrySendError::Full(r)
                | std::sync::mpsc::TrySendError::Disconnected(r) => r,
            };
            if let Req::Add {
                reply: Reply::Then(f),
                ..
            } = req
            {
                f(Err(
                    "the state thread is behind: the addition was dropped".into()
                ));
            }
        }
    }

    fn get(&self, conversation: &str) -> Result<Parts, String> {
        self.ask(|reply| Req::Get {
            conversation: conversation.to_owned(),
            reply,
        })
    }

    fn run_off_path(&self, job: chatobs_cost::shared::Job) {
        self.shared.inflight.fetch_add(1, Ordering::AcqRel);
        let shared = self.shared.clone();
        let job: chatobs_cost::shared::Job = Box::new(move || {
            job();
            shared.inflight.fetch_sub(1, Ordering::AcqRel);
        });
        // The state thread is behind (or gone): run it here, late rather than lost.
        if let Err(
            std::sync::mpsc::TrySendError::Full(Req::Job(job))
            | std::sync::mpsc::TrySendError::Disconnected(Req::Job(job)),
        ) = self.tx.try_send(Req::Job(job))
        {
            job();
        }
    }

    fn claim_once_then(&self, conversation: &str, flag: &str, then: OnceThen) {
        self.eval_then(
            Script(ONCE_SCRIPT, false),
            vec![self.key(conversation, &format!("once:{flag}"))],
            vec![self.lifecycle_ttl().to_string()],
            Box::new(move |r| then(r.map(|v| v.first().is_some_and(|x| x == "1")))),
        );
    }

    fn conversation_open(&self, req: &OpenRequest<'_>) -> Result<Opened, String> {
        let v = self.eval(
            Script(OPEN_SCRIPT, true),
            vec![self.user_key(req.user), self.due_key()],
            self.open_args(req),
        )?;
        opened(&v, req.now_ms)
    }

    fn conversation_open_then(&self, req: &OpenRequest<'_>, then: OpenThen) {
        let now = req.now_ms;
        self.eval_then(
            Script(OPEN_SCRIPT, true),
            vec![self.user_key(req.user), self.due_key()],
            self.open_args(req),
            Box::new(move |r| then(r.and_then(|v| opened(&v, now)))),
        );
    }

    fn conversation_find(&self, user: &str) -> Result<Option<String>, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let v = self.eval(
            Script(FIND_SCRIPT, false),
            vec![self.user_key(user)],
            vec![self.prefix.clone(), now.to_string()],
        )?;
        Ok(v.into_iter().next())
    }

    fn conversation_close(&self, id: &str) -> Result<Option<ClosedRecord>, String> {
        // What this process added is in Redis before the record is read.
        self.flush(self.timeout);
        let v = self.eval(
            Script(CLOSE_SCRIPT, true),
            vec![self.due_key()],
            vec![self.prefix.clone(), id.to_owned()],
        )?;
        Ok(record(&v))
    }

    fn conversations_due(&self, now_ms: i64, max: usize) -> Result<Vec<ClosedRecord>, String> {
        let v = self.eval(
            Script(DUE_SCRIPT, true),
            vec![self.due_key()],
            vec![self.prefix.clone(), now_ms.to_string(), max.to_string()],
        )?;
        Ok(v.chunks(RECORD_FIELDS).filter_map(record).collect())
    }

    fn conversation_outcome(&self, id: &str, outcome: &str) -> Result<(), String> {
        self.eval(
            Script(OUTCOME_SCRIPT, false),
            vec![self.key(id, "meta")],
            vec![outcome.to_owned()],
        )
        .map(|_| ())
    }

    fn window_load(&self, pair: &str) -> Result<(u64, Option<String>), String> {
        let v = self.eval(
            Script(WINDOW_LOAD_SCRIPT, false),
            vec![format!("{}:wa:{{{pair}}}", self.prefix)],
            vec![],
        )?;
        let version = v.first().and_then(|x| x.parse().ok()).unwrap_or(0);
        Ok((version, v.get(1).filter(|x| !x.is_empty()).cloned()))
    }

    fn window_store(
        &self,
        pair: &str,
        version: u64,
        state: &str,
        count: Option<&str>,
    ) -> Result<WindowStored, String> {
        let key = format!("{}:wa:{{{pair}}}", self.prefix);
        // A month's counter lives two months (the tier of a month is read in it).
        let counter = count.map_or_else(|| key.clone(), |c| format!("{}:wam:{c}", self.prefix));
        let v = self.eval(
            Script(WINDOW_STORE_SCRIPT, false),
            vec![key, counter],
            vec![
                version.to_string(),
                state.to_owned(),
                self.ttl_ms.max(96 * 3_600_000).to_string(),
                (62u64 * 24 * 3_600_000).to_string(),
                if count.is_some() { "1" } else { "0" }.to_owned(),
            ],
        )?;
        let num = |i: usize| v.get(i).and_then(|x| x.parse::<u64>().ok());
        match v.first().map(String::as_str) {
            Some("ok") => Ok(WindowStored::Stored {
                version: num(1).unwrap_or(0),
                count: num(2),
            }),
            Some("conflict") => Ok(WindowStored::Conflict {
                version: num(1).unwrap_or(0),
                state: v.get(2).filter(|x| !x.is_empty()).cloned(),
            }),
            _ => Err("the window script gave an unexpected answer".into()),
        }
    }
}

impl Drop for RedisLedger {
    fn drop(&mut self) {
        let _ = self.tx.try_send(Req::Stop);
        if let Some(t) = self.thread.take() {
            // Bounded: the thread stops after its current request.
            let _ = t.join();
        }
    }
}

struct Worker {
    client: redis::Client,
    conn: Option<redis::aio::ConnectionManager>,
    prefix: String,
    ttl_ms: u64,
    timeout: Duration,
    max_pending: usize,
    pending: VecDeque<(String, u128, Delta, Reply)>,
    shared: Arc<Shared>,
    next_retry: Instant,
}

impl Worker {
    fn run(mut self, rx: Receiver<Req>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("chatobs: the state thread has no runtime ({e}): conversation totals stay per process");
                self.set_degraded(true);
                return;
            }
        };
        loop {
            let req = match rx.recv_timeout(Duration::from_millis(250)) {
                Ok(r) => Some(r),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if !self.pending.is_empty() {
                rt.block_on(self.replay());
            }
            let req = match req {
                None => continue,
                Some(Req::Add {
                    conversation,
                    op,
                    delta,
                    reply,
                }) => {
                    // Everything already waiting goes in the same round trip.
                    let mut batch = vec![(conversation, op, delta, reply)];
                    let mut after = None;
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(Req::Add {
                                conversation,
                                op,
                                delta,
                                reply,
                            }) => batch.push((conversation, op, delta, reply)),
                            Ok(other) => {
                                after = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if !self.pending.is_empty()
                        || self.conn.is_none() && Instant::now() < self.next_retry
                    {
                        // Order is kept: behind what waits for replay.
                        for (c, o, d, r) in batch {
                            self.queue(c, o, d, r);
                        }
                    } else {
                        rt.block_on(self.add_batch(batch));
                    }
                    match after {
                        Some(other) => other,
                        None => continue,
                    }
                }
                Some(other) => other,
            };
            if !self.serve(&rt, req) {
                return;
            }
        }
    }

    /// Serves one request that is not an addition; false on `Stop`.
    fn serve(&mut self, rt: &tokio::runtime::Runtime, req: Req) -> bool {
        match req {
            Req::Stop => return false,
            Req::Flush { reply } => {
                let _ = reply.try_send(());
            }
            Req::Get {
                conversation,
                reply,
            } => {
                let res = rt.block_on(self.get(&conversation));
                let _ = reply.try_send(res);
            }
            Req::Eval {
                script,
                keys,
                args,
                reply,
            } => {
                let res = rt.block_on(self.eval(script, &keys, &args));
                reply.send(res);
            }
            Req::Job(job) => job(),
            // Additions are batched by `run`; one reaching here keeps the order.
            Req::Add {
                conversation,
                op,
                delta,
                reply,
            } => {
                if self.pending.is_empty() {
                    rt.block_on(self.add_batch(vec![(conversation, op, delta, reply)]));
                } else {
                    self.queue(conversation, op, delta, reply);
                }
            }
        }
        true
    }

    /// One script; an unreachable Redis makes the ledger degraded.
    async fn eval(
        &mut self,
        script: Script,
        keys: &[String],
        args: &[String],
    ) -> Result<Vec<String>, String> {
        let mut c = self.connection().await?;
        let src = if script.1 {
            format!("{DESCRIBE}{}", script.0)
        } else {
            script.0.to_owned()
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(src).arg(keys.len());
        for k in keys {
            cmd.arg(k);
        }
        for a in args {
            cmd.arg(a);
        }
        let r: Result<Result<Vec<String>, redis::RedisError>, _> =
            tokio::time::timeout(self.timeout * 4, cmd.query_async(&mut c)).await;
        match r {
            Ok(Ok(v)) => {
                self.set_degraded(false);
                Ok(v)
            }
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.conn = None;
                    self.next_retry = Instant::now() + Duration::from_secs(1);
                    self.set_degraded(true);
                }
                Err(describe(&e))
            }
            Err(_) => {
                self.conn = None;
                self.next_retry = Instant::now() + Duration::from_secs(1);
                self.set_degraded(true);
                Err("Redis did not answer in time".into())
            }
        }
    }

    fn key(&self, conversation: &str, what: &str) -> String {
        format!("{}:{{{conversation}}}:{what}", self.prefix)
    }

    async fn connection(&mut self) -> Result<redis::aio::ConnectionManager, String> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        if Instant::now() < self.next_retry {
            return Err("Redis is unreachable (retrying each second)".into());
        }
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(0);
        match tokio::time::timeout(
            self.timeout * 4,
            self.client.get_connection_manager_with_config(cfg),
        )
        .await
        {
            Ok(Ok(c)) => {
                self.conn = Some(c.clone());
                Ok(c)
            }
            Ok(Err(e)) => {
                self.next_retry = Instant::now() + Duration::from_secs(1);
                self.set_degraded(true);
                Err(describe(&e))
            }
            Err(_) => {
                self.next_retry = Instant::now() + Duration::from_secs(1);
                self.set_degraded(true);
                Err("connecting to Redis timed out".into())
            }
        }
    }

    /// Adds a batch in one round trip; on a refusal (an addition Redis
    /// rejects, such as an overflow), each is tried alone so only the bad one
    /// is dropped (counted). Unreachable: the batch is queued for replay.
    async fn add_batch(&mut self, batch: Vec<(String, u128, Delta, Reply)>) {
        let ops: Vec<(String, u128, Delta)> = batch
            .iter()
            .map(|(c, o, d, _)| (c.clone(), *o, *d))
            .collect();
        match self.add_many(&ops).await {
            Ok(parts) => {
                for ((_, _, _, r), p) in batch.into_iter().zip(parts) {
                    r.send(Ok(p));
                }
            }
            Err(AddError::Unavailable(_)) => {
                for (c, o, d, r) in batch {
                    self.queue(c, o, d, r);
                }
            }
            Err(AddError::Refused(_)) => {
                for (c, o, d, r) in batch {
                    match self.add_many(&[(c.clone(), o, d)]).await {
                        Ok(mut p) => r.send(Ok(p.pop().unwrap_or_default())),
                        Err(AddError::Unavailable(_)) => self.queue(c, o, d, r),
                        Err(AddError::Refused(e)) => {
                            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                            r.send(Err(format!("Redis refused the addition: {e}")));
                        }
                    }
                }
            }
        }
    }

    /// One pipelined round trip: the script once per addition.
    async fn add_many(&mut self, ops: &[(String, u128, Delta)]) -> Result<Vec<Parts>, AddError> {
        let mut c = self.connection().await.map_err(AddError::Unavailable)?;
        let mut pipe = redis::pipe();
        for (conv, op, d) in ops {
            pipe.cmd("EVAL")
                .arg(ADD_SCRIPT)
                .arg(2)
                .arg(self.key(conv, "totals"))
                .arg(self.key(conv, &format!("op:{op:032x}")))
                .arg(self.ttl_ms)
                .arg(d.llm_pico)
                .arg(d.whatsapp_pico)
                .arg(d.evaluation_pico)
                .arg(d.llm_calls)
                .arg(d.messages_in)
                .arg(d.messages_out);
        }
        let r: Result<Result<Vec<Vec<Option<i64>>>, redis::RedisError>, _> =
            tokio::time::timeout(self.timeout * 4, pipe.query_async(&mut c)).await;
        match r {
            Ok(Ok(v)) => {
                self.shared
                    .added
                    .fetch_add(ops.len() as u64, Ordering::Relaxed);
                self.set_degraded(false);
                Ok(v.iter().map(|x| parts(x)).collect())
            }
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.conn = None;
                    self.next_retry = Instant::now() + Duration::from_secs(1);
                    self.set_degraded(true);
                    Err(AddError::Unavailable(describe(&e)))
                } else {
                    Err(AddError::Refused(describe(&e)))
                }
            }
            Err(_) => {
                self.conn = None;
                self.next_retry = Instant::now() + Duration::from_secs(1);
                self.set_degraded(true);
                Err(AddError::Unavailable("Redis did not answer in time".into()))
            }
        }
    }

    async fn get(&mut self, conversation: &str) -> Result<Parts, String> {
        let mut c = self.connection().await?;
        let key = self.key(conversation, "totals");
        let r: Result<Result<Vec<Option<i64>>, redis::RedisError>, _> = tokio::time::timeout(
            self.timeout * 2,
            redis::cmd("HMGET")
                .arg(key)
                .arg("llm")
                .arg("wa")
                .arg("eval")
                .arg("calls")
                .arg("in")
                .arg("out")
                .arg("turns")
                .query_async(&mut c),
        )
        .await;
        match r {
            Ok(Ok(v)) => Ok(parts(&v)),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err("Redis did not answer in time".into()),
        }
    }

    /// Queues an addition for replay. A caller waiting on a channel is told
    /// now (it will not wait for the replay); a continuation is kept and run
    /// at the replay.
    fn queue(&mut self, conversation: String, op: u128, delta: Delta, reply: Reply) {
        let reply = match reply {
            Reply::Channel(c) => {
                let _ = c.try_send(Err("Redis is unreachable: queued for replay".into()));
                Reply::None
            }
            other => other,
        };
        if self.pending.len() >= self.max_pending {
            if let Some((_, _, _, r)) = self.pending.pop_front() {
                r.send(Err("dropped: the replay queue was full".into()));
            }
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.pending.push_back((conversation, op, delta, reply));
        self.shared
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }

    /// Replays what waited, in order; stops at the first failure.
    async fn replay(&mut self) {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(MAX_BATCH);
            let ops: Vec<(String, u128, Delta)> = self
                .pending
                .iter()
                .take(n)
                .map(|(c, o, d, _)| (c.clone(), *o, *d))
                .collect();
            match self.add_many(&ops).await {
                Ok(parts) => {
                    for p in parts {
                        if let Some((_, _, _, reply)) = self.pending.pop_front() {
                            reply.send(Ok(p));
                        }
                        self.shared.replayed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(AddError::Unavailable(_)) => break,
                Err(AddError::Refused(_)) => {
                    // One of them is refused: replay the front alone, drop it if it is the one.
                    let (c, o, d, _) = &self.pending[0];
                    let one = [(c.clone(), *o, *d)];
                    match self.add_many(&one).await {
                        Ok(mut p) => {
                            if let Some((_, _, _, reply)) = self.pending.pop_front() {
                                reply.send(Ok(p.pop().unwrap_or_default()));
                            }
                            self.shared.replayed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(AddError::Unavailable(_)) => break,
                        Err(AddError::Refused(e)) => {
                            if let Some((_, _, _, reply)) = self.pending.pop_front() {
                                reply.send(Err(format!("Redis refused the addition: {e}")));
                            }
                            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        self.shared
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }

    fn set_degraded(&self, on: bool) {
        let was = self.shared.degraded.swap(on, Ordering::Relaxed);
        if on && !was {
            self.shared.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "chatobs::state",
                "chatobs: Redis (state.url) is unreachable: conversation totals are counted per process and queued until it answers again (see /health/ready)"
            );
        } else if !on && was {
            tracing::info!(
                target: "chatobs::state",
                "chatobs: Redis (state.url) answers again: queued additions are being replayed"
            );
        }
    }
}

fn parts(v: &[Option<i64>]) -> Parts {
    let at = |i: usize| v.get(i).copied().flatten().unwrap_or(0);
    Parts {
        llm_pico: at(0),
        whatsapp_pico: at(1),
        evaluation_pico: at(2),
        llm_calls: at(3),
        messages_in: at(4),
        messages_out: at(5),
        turns: at(6),
    }
}

fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

/// The error without anything that could carry the URL's password.
fn describe(e: &redis::RedisError) -> String {
    format!("{:?}: {}", e.kind(), e.detail().unwrap_or(""))
}
