//! The ways in to a running node for the staff's tools: the local Unix socket the CLI talks
//! to, and the web interface. Each builds `care::api` requests and renders replies.
//!
//! - [`socket`]: `run/api.sock` in the data directory, one bounded JSON line each way.
//! - [`web`]: the staff's web interface and the JSON API under `/api/v1`.

pub mod socket;
pub mod web;
