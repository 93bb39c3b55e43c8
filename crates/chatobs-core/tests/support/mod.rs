//! Shared by the tests (and `spans`, by path, by the report's benchmark).
pub mod pipeline;
pub mod spans;
