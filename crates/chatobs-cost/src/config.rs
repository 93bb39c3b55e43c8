//! `[cost]`: price files, the billed-service rule, window state bounds.

use chatobs_core::config::{Errors, Section};
use serde::Deserialize;
use std::path::PathBuf;

/// `[cost]`: price tables, the billed-service rule, window state bounds.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CostConfig {
    /// Your LLM price files (format of the shipped `data/llm_prices.toml`,
    /// [`crate::llm::SHIPPED_LLM_PRICES`]), applied in order over the shipped
    /// table: same model and provider replaces, others extend.
    pub llm_price_files: Vec<PathBuf>,
    /// Your WhatsApp rate files (format of the shipped `data/whatsapp_rates.toml`,
    /// [`crate::whatsapp::SHIPPED_WHATSAPP_RATES`]).
    pub whatsapp_rate_files: Vec<PathBuf>,
    /// Bill service (free-form) messages per message from the card's
    /// `billed_service_from` day (reported for 2026-10-01), after the monthly
    /// free allowance per business number.
    pub billed_service_messages: bool,
    /// Most (business, user) window states and conversation ledgers kept in memory.
    pub state_max_entries: usize,
    /// A window state or ledger with no activity for this many hours is dropped
    /// (at least 72: a free entry point window lasts 72 hours).
    pub state_ttl_hours: u64,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            llm_price_files: Vec::new(),
            whatsapp_rate_files: Vec::new(),
            billed_service_messages: false,
            state_max_entries: 100_000,
            state_ttl_hours: 96,
        }
    }
}

impl Section for CostConfig {
    const KEY: &'static str = "cost";

    fn validate(&self, errs: &mut Errors) {
        if !(1..=100_000_000).contains(&self.state_max_entries) {
            errs.push(
                "cost.state_max_entries",
                format!(
                    "must be between 1 and 100000000, got {}",
                    self.state_max_entries
                ),
            );
        }
        if !(72..=24 * 400).contains(&self.state_ttl_hours) {
            errs.push(
                "cost.state_ttl_hours",
                format!(
                    "must be between 72 (a free entry point window lasts 72 h) and 9600, got {}",
                    self.state_ttl_hours
                ),
            );
        }
    }
}

impl CostConfig {
    /// Checks the bounds (every problem at once).
    pub fn validate(&self) -> Result<(), chatobs_core::Error> {
        let mut errs = Errors::new(None);
        Section::validate(self, &mut errs);
        errs.into_result()
    }

    /// The window state bounds.
    pub fn state_bounds(&self) -> crate::StateBounds {
        crate::StateBounds {
            max_pairs: self.state_max_entries,
            ttl_ms: i64::try_from(self.state_ttl_hours)
                .unwrap_or(i64::MAX / 3_600_000)
                .saturating_mul(3_600_000),
        }
    }
}
