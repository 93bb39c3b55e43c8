//! # chatobs-state: conversations shared across replicas and services
//!
//! A bot runs several replicas behind a load balancer and more than one
//! service (a gateway that answers WhatsApp, an agents service that calls
//! the LLM). A conversation's running total has to be one number across all
//! of them, or a "$1 per conversation" budget is per process. This crate
//! keeps it in Redis ([`RedisLedger`]) behind `chatobs-cost`'s
//! [`SharedLedger`](chatobs_cost::shared::SharedLedger) seam, which is the
//! whole interface another store needs to implement (an atomic, idempotent
//! `add` of integer picodollars returning the totals after it, and `get`).
//!
//! `[state] url` (or `CHATOBS_STATE_URL`) turns it on; empty (the default)
//! keeps state in the process, with no server. `chatobs_runtime::init` wires it.
//!
//! What is shared today: the conversation's LLM, WhatsApp and evaluation
//! totals and its LLM call count, so the per-conversation budget alert fires
//! once, on whichever replica's addition crosses it. WhatsApp windows,
//! volume-tier counters and the conversation lifecycle are still per process.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod redis_ledger;

pub use config::StateConfig;
pub use redis_ledger::{RedisLedger, StateStats};
