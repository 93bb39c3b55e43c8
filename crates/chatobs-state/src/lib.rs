//! # chatobs-state: conversations shared across replicas and services
//!
//! A bot runs several replicas behind a load balancer and more than one
//! service (a gateway that answers WhatsApp, an agents service that calls
//! the LLM). A conversation has to be one thing across all of them, or a "$1
//! per conversation" budget is per process. This crate keeps the shared
//! state in Redis ([`RedisLedger`]) behind `chatobs-cost`'s one state
//! interface, [`SharedLedger`](chatobs_cost::shared::SharedLedger):
//!
//! - the conversation's totals (LLM, WhatsApp, evaluation cost in integer
//!   picodollars, LLM calls, messages in and out, turns): one atomic,
//!   idempotent Lua call per priced event, off the request path;
//! - the once-per-conversation flags (a budget alert fires once across
//!   processes, even when an addition is replayed);
//! - the WhatsApp windows and monthly volume-tier counters (compare-and-set
//!   on each pair's state, so every replica decides as one process would);
//! - the conversation lifecycle (each user's open conversation, its
//!   deadline and outcome, and a sorted set of deadlines that any process's
//!   sweeper claims from, so a conversation closes once, across restarts).
//!
//! `[state] url` (or `CHATOBS_STATE_URL`) turns it on; empty (the default)
//! keeps state in the process, with no server. `chatobs_runtime::init` wires it.
//!
//! Keys are namespaced by `[state] key_prefix` and expire (`ttl_hours` after
//! their last change, plus the lifecycle's `close_after_seconds` for a
//! conversation's keys). A conversation's totals and flags share one Redis
//! Cluster slot (`{<id>}`); the lifecycle's deadline set is one key per
//! prefix, so the lifecycle needs a single Redis (or a replicated one), not a
//! Cluster.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod redis_ledger;

pub use config::StateConfig;
pub use redis_ledger::{RedisLedger, StateStats};
