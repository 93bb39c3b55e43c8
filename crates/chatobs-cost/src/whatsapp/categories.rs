//! The closed sets of WhatsApp pricing: categories, pricing models and
//! types, and what made a message free, with Meta's spellings.

use serde::{Deserialize, Serialize};

/// A pricing category, as Meta's `pricing.category` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Marketing template.
    Marketing,
    /// Utility template.
    Utility,
    /// Authentication template.
    Authentication,
    /// Authentication template to a market with international authentication rates.
    AuthenticationInternational,
    /// Free-form (non-template) message.
    Service,
}

impl Category {
    /// Meta's spelling (`authentication-international`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Marketing => "marketing",
            Category::Utility => "utility",
            Category::Authentication => "authentication",
            Category::AuthenticationInternational => "authentication-international",
            Category::Service => "service",
        }
    }
    /// Parses Meta's spelling (also `authentication_international`).
    pub fn parse(s: &str) -> Option<Category> {
        Some(match s.trim() {
            "marketing" => Category::Marketing,
            "utility" => Category::Utility,
            "authentication" => Category::Authentication,
            "authentication-international" | "authentication_international" => {
                Category::AuthenticationInternational
            }
            "service" => Category::Service,
            _ => return None,
        })
    }
}

/// Which pricing model applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PricingModel {
    /// Conversation-based pricing (until 2025-06-30).
    #[serde(rename = "CBP")]
    ConversationBased,
    /// Per-message pricing (from 2025-07-01).
    #[serde(rename = "PMP")]
    PerMessage,
}

impl PricingModel {
    /// `CBP` or `PMP` (Meta's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            PricingModel::ConversationBased => "CBP",
            PricingModel::PerMessage => "PMP",
        }
    }
}

/// Meta's `pricing.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingType {
    /// Charged (or covered by an open conversation).
    Regular,
    /// Free inside the customer service window.
    FreeCustomerService,
    /// Free inside a free entry point window.
    FreeEntryPoint,
}

impl PricingType {
    /// `regular`, `free_customer_service`, `free_entry_point`.
    pub fn as_str(self) -> &'static str {
        match self {
            PricingType::Regular => "regular",
            PricingType::FreeCustomerService => "free_customer_service",
            PricingType::FreeEntryPoint => "free_entry_point",
        }
    }
}

/// What made a message free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreeBy {
    /// The customer service window (24 h from the user's last message).
    CustomerServiceWindow,
    /// A free entry point window (72 h).
    FreeEntryPointWindow,
    /// An open conversation of the same category (conversation-based pricing).
    OpenConversation,
    /// Service conversations are free (conversation-based pricing, from 2024-11-01).
    FreeServiceConversation,
    /// The monthly free allowance of billed service messages.
    MonthlyFreeAllowance,
}

impl FreeBy {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FreeBy::CustomerServiceWindow => "customer_service_window",
            FreeBy::FreeEntryPointWindow => "free_entry_point_window",
            FreeBy::OpenConversation => "open_conversation",
            FreeBy::FreeServiceConversation => "free_service_conversation",
            FreeBy::MonthlyFreeAllowance => "monthly_free_allowance",
        }
    }
}
