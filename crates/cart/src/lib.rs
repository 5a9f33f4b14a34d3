//! cart
