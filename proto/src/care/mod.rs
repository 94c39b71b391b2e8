//! The care layer's pure logic: what clinical events say and what follows from them.
//!
//! - [`documents`]: the sealed payload of a clinical event and the discharge documents.
//! - [`chain`]: one patient's care chain per episode, and the payment clock.
//! - [`plan`]: plan versions as a DAG; conflicts shown, never merged silently.
//! - [`receipts`]: Delivered / Read receipts, their state per unit, escalation timing.
//! - [`snapshot`]: an active chain imported from the region's pre-outage snapshot.

pub mod chain;
pub mod documents;
pub mod plan;
pub mod receipts;
pub mod snapshot;
