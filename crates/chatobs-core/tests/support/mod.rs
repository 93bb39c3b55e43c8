//! Shared by the report's tests (and, by path, its benchmark).
pub mod spans;
