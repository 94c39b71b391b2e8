//! The ways in to a running node for the staff's tools: today the local Unix socket the CLI
//! talks to; later the web interface. Each builds `care::api` requests and renders replies.
//!
//! - [`socket`]: `run/api.sock` in the data directory, one bounded JSON line each way.

pub mod socket;
