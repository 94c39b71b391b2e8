//! reservnod
