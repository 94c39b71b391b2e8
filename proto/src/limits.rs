//! Every bound on sizes and counts, as named constants.
//!
//! A peer, a file or a user is untrusted input: each decoder and each validator checks
//! against one of these before it allocates or loops. Related bounds are tied together by
//! compile-time assertions at the bottom.

/// Largest encoded frame payload (version byte included) accepted from or sent to a peer.
pub const FRAME_BYTES_MAX: usize = 1024 * 1024;
/// Bytes of the length prefix in front of each frame.
pub const FRAME_HEADER_BYTES: usize = 4;
/// Largest canonical encoding of one event (the signed bytes).
pub const EVENT_BYTES_MAX: usize = 256 * 1024;
/// Largest encoded roster (the admin-signed bytes).
pub const ROSTER_BYTES_MAX: usize = 512 * 1024;
/// Most recipient units one event may be addressed to.
pub const RECIPIENTS_MAX: usize = 32;
/// Most parent versions one document version may name (heads it replaces).
pub const PARENTS_MAX: usize = 16;
/// Most events in one `Events` frame.
pub const FRAME_EVENTS_MAX: usize = 1024;
/// Longest user reference (a staff member's login or HSA person id) in an event header.
pub const USER_BYTES_MAX: usize = 128;
/// Longest free-text field in the roster (names, reasons).
pub const ROSTER_TEXT_BYTES_MAX: usize = 200;
/// Longest phrase template key.
pub const PHRASE_KEY_BYTES_MAX: usize = 32;
/// Longest phrase template text.
pub const PHRASE_TEXT_BYTES_MAX: usize = 4096;
/// Most units in one roster.
pub const ROSTER_UNITS_MAX: usize = 2_000;
/// Most nodes in one roster (revoked ones included).
pub const ROSTER_NODES_MAX: usize = 8_000;
/// Most routing rules in one roster (Sweden has 290 municipalities).
pub const ROSTER_ROUTES_MAX: usize = 1_000;
/// Most phrase templates in one roster.
pub const ROSTER_PHRASES_MAX: usize = 500;
/// Longest goodbye reason a peer may send.
pub const GOODBYE_REASON_BYTES_MAX: usize = 256;

const _: () = assert!(
    EVENT_BYTES_MAX + 1024 <= FRAME_BYTES_MAX,
    "one event must fit a frame"
);
const _: () = assert!(
    ROSTER_BYTES_MAX + 1024 <= FRAME_BYTES_MAX,
    "a roster must fit a frame"
);
const _: () = assert!(
    FRAME_BYTES_MAX <= u32::MAX as usize,
    "length prefix is a u32"
);
