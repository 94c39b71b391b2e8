//! Every bound of the daemon and the CLI on time, sizes and counts, as named constants.
//!
//! What a peer, a file or a local client sends is untrusted: each reader, queue and loop is
//! bounded by one of these. The bounds of what is on the wire and on disk are in
//! `reservnod_proto::limits`; related bounds are tied together by compile-time assertions at
//! the bottom, so changing one cannot silently break another.

use std::time::Duration;

use reservnod_proto::limits::{EVENT_BYTES_MAX, FRAME_BYTES_MAX, FRAME_EVENTS_MAX};

// The link protocol's own timers and bounds (the hello deadline, pings, sessions, what a
// round may announce, batches, the session budget) are defined once, by the machine that
// keeps them, and named here with the rest.
pub use reservnod_proto::link::{
    HELLO_TIMEOUT, PENDING_ANNOUNCED_MAX, PING_INTERVAL, RECONCILE_INTERVAL,
    RESPONDER_SESSIONS_BURST, RESPONDER_SESSION_REFILL, SESSION_STALL,
};
pub use reservnod_proto::outbox::{SEND_BATCH_BYTES, SEND_BATCH_EVENTS, SEND_EVENT_OVERHEAD_BYTES};

// --- The mesh: QUIC transport and one connection -------------------------------------------

/// Most established connections a node keeps at once; further handshakes are refused.
pub const CONNECTIONS_MAX: usize = 64;
/// Most handshakes in progress at once, a bound apart from [`CONNECTIONS_MAX`] so that
/// handshakes that never finish cannot take the places of admitted peers.
pub const HANDSHAKES_MAX: usize = 32;
/// Once this many handshakes are in progress, a new one from an address that has not proved
/// it receives our packets is sent a QUIC Retry: a flood from addresses that never answer
/// holds nothing, and the places above this are left for validated addresses.
pub const RETRY_AFTER_HANDSHAKES: usize = 4;
/// Most handshakes in progress from one validated address (IP and port).
pub const HANDSHAKES_PER_ADDRESS_MAX: usize = 2;
/// A handshake not finished within this long is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Connection attempts quinn holds before the accept loop has decided on them.
pub const INCOMING_MAX: usize = 256;
/// Bytes quinn buffers for one undecided connection attempt.
pub const INCOMING_BUFFER_BYTES: u64 = 64 * 1024;
/// Bytes quinn buffers for all undecided connection attempts together.
pub const INCOMING_BUFFER_TOTAL_BYTES: u64 = 4 * 1024 * 1024;
/// Once a frame has begun, the rest of it must arrive within this long (slow-loris guard).
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// QUIC keep-alive: a PING sent when a connection is otherwise quiet. The peer's QUIC stack
/// acknowledges it by itself (no application code, no queue in between), so a peer busy
/// with work still answers each one.
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// A connection with no packets for this long is dead: a killed peer is shown gone within
/// about this long. Several keep-alives (and their retransmissions) must all go unanswered
/// first, and quinn never times out sooner than three probe timeouts, so a slow, lossy link
/// stretches it by itself.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(6);
/// Largest chunk read from a stream at once.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Per-stream flow-control window: what a peer can make us buffer on the control stream.
pub const STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;
/// Per-connection receive (and send) window.
pub const CONNECTION_WINDOW_BYTES: u32 = 4 * 1024 * 1024;
/// How long a goodbye is given to reach the peer before the connection is closed.
pub const GOODBYE_LINGER: Duration = Duration::from_secs(1);

// --- Replication: what one connection queues and sends ------------------------------------

/// Control frames (replies, wants, pings) waiting for a connection's writer; a peer that
/// sends but never reads fills this and is disconnected.
pub const CONTROL_QUEUE_MAX: usize = 1024;
/// Shortest reconciliation interval a config may set.
pub const RECONCILE_INTERVAL_MIN: Duration = Duration::from_secs(1);
/// Longest reconciliation interval a config may set.
pub const RECONCILE_INTERVAL_MAX: Duration = Duration::from_secs(3600);
/// Most refused events remembered, over all peers (about 100 bytes each).
pub const REFUSED_REMEMBERED_MAX: usize = 16_384;
// Two new sessions per [`RECONCILE_INTERVAL_MIN`] is what a dialler with the shortest
// interval a config allows starts: no honest peer is refused whatever its config.
const _: () =
    assert!(2 * RESPONDER_SESSION_REFILL.as_millis() <= RECONCILE_INTERVAL_MIN.as_millis());

// --- The care operations ---------------------------------------------------------------

/// Event headers `events` lists when no number is asked for.
pub const EVENTS_LIST_DEFAULT: usize = 50;
/// Most event headers one `events` request lists.
pub const EVENTS_LIST_MAX: usize = 1000;
/// Most stored events one `events` request looks at (each is read and verified), so a class
/// filter that matches little cannot make it read the whole store.
pub const EVENTS_LIST_SCAN_MAX: usize = 10_000;

// --- The daemon -----------------------------------------------------------------------------

/// First reconnect delay; doubles per failed attempt up to [`BACKOFF_MAX`].
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest reconnect delay to a static peer: short, so a link that comes back after a cut
/// is noticed within seconds (a failed dial costs a few packets).
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Doublings of [`BACKOFF_BASE`] counted at most (the shift never overflows).
pub const BACKOFF_DOUBLINGS_MAX: u32 = 10;
/// How long a dial may take before it counts as failed; a new dial then sends fresh
/// Initials instead of waiting out QUIC's growing retransmission delay.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the roster drop file and the status file are looked at.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);
/// How often the status file's outage line is worked out again (it walks the outage's
/// items under the view's lock, which ingest waits on: not every second).
pub const OUTAGE_LINE_EVERY: Duration = Duration::from_secs(10);
/// How long shutdown waits for tasks before closing the endpoint regardless.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a closed endpoint is given to tell its peers.
pub const ENDPOINT_CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Most discovery dials in flight at once.
pub const DISCOVERY_DIALS_MAX: usize = 16;
/// A discovered node is dialled at most this often.
pub const DISCOVERY_REDIAL: Duration = Duration::from_secs(10);
/// Discovered nodes remembered for [`DISCOVERY_REDIAL`]; beyond this the old ones are dropped.
pub const DISCOVERY_REMEMBERED_MAX: usize = 4 * DISCOVERY_DIALS_MAX;
/// Discovery hints waiting for the dialler.
pub const DISCOVERED_QUEUE_MAX: usize = 64;
/// A status file older than this means the daemon is not running.
pub const STATUS_STALE_MS: u64 = 10_000;
/// Largest status file read (it lists every peer).
pub const STATUS_FILE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// (time, stored) samples the storage rate in `status` is computed over, one per
/// housekeeping round.
pub const RATE_SAMPLES: usize = 6;

// --- Care: the view ---------------------------------------------------------------------

/// What the care view holds in clear from one author unit at most (bytes of its signed
/// events, a bound on what their opened payloads take), so one compromised node cannot fill
/// a unit's memory. An honest unit writes far less (a year of a busy ward: some tens of MiB).
pub const VIEW_UNIT_BYTES_MAX: usize = 128 * 1024 * 1024;

// --- Care: retention ---------------------------------------------------------------------

/// How often the daemon takes one step of the purge pass (it returns at once while purging
/// is off or the roster holds no purge decision).
pub const PURGE_STEP_EVERY: Duration = Duration::from_secs(5);
/// Stored events one step of the purge pass looks at, at most (it walks the store in
/// (hlc, id) order from where the last step stopped, and starts over at the end).
pub const PURGE_STEP_EVENTS: usize = 1_000;

// --- Care: escalation ---------------------------------------------------------------------

/// How often the daemon looks for unread messages past their time.
pub const ESCALATION_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// How long the escalation command may run before it is killed.
pub const ESCALATION_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long past the due time a node of the sending unit other than the author node waits
/// for the author node's `Escalated` receipt before it escalates in its place.
pub const ESCALATION_TAKEOVER_AFTER: Duration = Duration::from_secs(60);

// --- The local socket ---------------------------------------------------------------------

/// Longest request line.
pub const REQUEST_BYTES_MAX: usize = 1024 * 1024;
/// Longest reply line the CLI reads.
pub const REPLY_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Most requests handled at once.
pub const SOCKET_REQUESTS_MAX: usize = 16;
/// Largest export (`care::api` export) handed over in one reply.
pub const EXPORT_BYTES_MAX: usize = 64 * 1024 * 1024;
/// How long a client may take to send its request, or to take its reply.
pub const SOCKET_IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the CLI waits for the node's answer (a node that is starting builds its view
/// first).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause after a failed accept (out of file descriptors and the like), so it cannot spin.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

// --- Files ----------------------------------------------------------------------------------

/// Largest bundle record (one signed event with its length prefixes and signature).
pub const BUNDLE_RECORD_BYTES_MAX: usize = EVENT_BYTES_MAX + 128;
/// Largest bundle header.
pub const BUNDLE_HEADER_BYTES_MAX: usize = 4096;
/// Events stored per durable batch while importing a bundle.
pub const BUNDLE_IMPORT_BATCH: usize = 1000;
/// Most static peers a config may list.
pub const STATIC_PEERS_MAX: usize = 256;
/// A stored timestamp further ahead of the wall clock than this does not drag the node's
/// clock (a peer with a clock far ahead wrote it).
pub const CLOCK_AHEAD_MAX_MS: u64 = 10 * 60 * 1000;

// --- LAN discovery --------------------------------------------------------------------------

/// How often the UDP broadcast announcement is sent.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(5);
/// A (node, address, mechanism) hint already reported is reported again only after this long.
pub const REANNOUNCE: Duration = Duration::from_secs(60);
/// At most this many reported hints are remembered; the oldest is forgotten first.
pub const SEEN_MAX: usize = 1024;
/// Largest broadcast announcement accepted, in bytes (a valid one is 77 bytes at most).
pub const MAX_DATAGRAM: usize = 256;
/// Most broadcast destinations per announcement round (limited broadcast plus interfaces).
pub const MAX_BROADCAST_TARGETS: usize = 32;
/// Most addresses taken from one resolved mDNS service.
pub const MAX_ADDRS_PER_SERVICE: usize = 16;
/// How often a browse whose event channel closed is started again before mDNS gives up.
pub const MDNS_MAX_REBROWSE: u32 = 8;
/// How long to wait for the mDNS daemon to unregister (send goodbyes) and to stop.
pub const MDNS_STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause after a failed receive on the broadcast socket, so a persistent error cannot spin.
pub const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(100);

// --- The access log ------------------------------------------------------------------------

/// Most bytes of one encoded audit entry.
pub const AUDIT_ENTRY_BYTES_MAX: usize = 32 * 1024;
/// Most patients one audit entry names; an operation that showed more (an inbox) writes as
/// many entries as it takes, in one batch.
pub const AUDIT_PATIENTS_PER_ENTRY: usize = 128;
/// Most characters of an entry's free text.
pub const AUDIT_DETAIL_CHARS_MAX: usize = 500;
/// Most characters of a login in an entry.
pub const AUDIT_LOGIN_CHARS_MAX: usize = 128;
/// Most characters of a person's name in an entry.
pub const AUDIT_NAME_CHARS_MAX: usize = 200;
/// Most characters of a client address (or the way in) in an entry.
pub const AUDIT_CLIENT_CHARS_MAX: usize = 100;
/// Entries in a page of a log search when the reviewer names no number.
pub const AUDIT_PAGE_DEFAULT: usize = 100;
/// Most entries in a page of a log search.
pub const AUDIT_PAGE_MAX: usize = 1_000;
/// Most entries in a page of a log export (a CSV page; the CLI asks for page after page).
pub const AUDIT_EXPORT_ROWS_MAX: usize = 20_000;
/// Most index entries one search looks at before it answers with where to go on.
pub const AUDIT_SCAN_MAX: usize = 200_000;
/// Most pages the CLI's export asks for (with `AUDIT_EXPORT_ROWS_MAX`, 20 million rows).
pub const AUDIT_EXPORT_PAGES_MAX: usize = 1_000;
/// Most bytes of a reservnummer's canonical text (`R:` issuer `:` value) an entry may hold.
pub const AUDIT_PATIENT_BYTES_MAX: usize = 64;

// --- How the bounds fit together --------------------------------------------------------

// The staff's web interface (`serve::web`).

/// Web connections served at once; more wait in the kernel's backlog.
pub const WEB_CONNECTIONS_MAX: usize = 256;
/// A TLS handshake that takes longer is dropped (a slow client cannot hold a slot).
pub const WEB_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body the web interface reads (a form or a JSON request).
pub const WEB_BODY_BYTES_MAX: usize = 256 * 1024;
/// Sessions held at once on one node (the oldest idle one goes first when full).
pub const WEB_SESSIONS_MAX: usize = 4096;
/// A session ends this long after login whatever its activity (a shift and a half).
pub const WEB_SESSION_ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
/// The idle warning shows this long before an idle session ends (at most half the idle time).
pub const WEB_IDLE_WARNING: Duration = Duration::from_secs(2 * 60);
/// Failed logins from one address or for one login before back-off starts (many nurses
/// share one NAT'd address, so the per-address allowance is larger).
pub const LOGIN_FREE_FAILURES_PER_ACCOUNT: u32 = 5;
/// As above, per client address.
pub const LOGIN_FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// The first back-off after the free failures; it doubles with each further failure.
pub const LOGIN_BACKOFF_BASE: Duration = Duration::from_secs(2);
/// The longest back-off.
pub const LOGIN_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);
/// Failure counters kept per kind (addresses, logins); the stalest goes first when full.
pub const LOGIN_COUNTERS_MAX: usize = 16_384;
/// How often the inbox page asks for changes (the small polling script).
pub const WEB_POLL_INTERVAL: Duration = Duration::from_secs(3);
/// The inbox's poll logs a read at least this often while the patients shown stay the
/// same (at once when they change): a page left open is seen in the access log without an
/// entry every [`WEB_POLL_INTERVAL`].
pub const INBOX_POLL_LOG_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Readers whose last polled inbox read is remembered (one per session at most).
pub const INBOX_POLL_READERS_MAX: usize = WEB_SESSIONS_MAX;

const _: () = assert!(
    KEEP_ALIVE.as_millis() < IDLE_TIMEOUT.as_millis()
        && PING_INTERVAL.as_millis() < IDLE_TIMEOUT.as_millis(),
    "a quiet but healthy connection must send something before it counts as idle"
);
const _: () = assert!(
    HELLO_TIMEOUT.as_millis() < IDLE_TIMEOUT.as_millis(),
    "a missing hello is noticed before the connection idles out"
);
const _: () = assert!(
    RETRY_AFTER_HANDSHAKES < HANDSHAKES_MAX && HANDSHAKES_PER_ADDRESS_MAX < HANDSHAKES_MAX,
    "validated addresses keep places above the Retry threshold, and no one address takes all"
);
const _: () = assert!(
    INCOMING_BUFFER_BYTES <= INCOMING_BUFFER_TOTAL_BYTES,
    "one attempt's buffer lies within the total"
);
const _: () = assert!(
    HANDSHAKE_TIMEOUT.as_millis() < DIAL_TIMEOUT.as_millis(),
    "a dialler waits longer than a listener gives the handshake"
);
const _: () = assert!(
    STREAM_WINDOW_BYTES as usize >= FRAME_BYTES_MAX + 4,
    "the largest frame must fit the stream window, or it could never be received"
);
const _: () = assert!(
    4 * KEEP_ALIVE.as_millis() <= IDLE_TIMEOUT.as_millis(),
    "a connection is given up only after several keep-alives went unanswered"
);
const _: () = assert!(
    STREAM_WINDOW_BYTES <= CONNECTION_WINDOW_BYTES,
    "the stream window lies within the connection window"
);
const _: () = assert!(
    SEND_BATCH_BYTES + EVENT_BYTES_MAX + SEND_EVENT_OVERHEAD_BYTES + 1024 <= FRAME_BYTES_MAX,
    "a batch closed just past its byte bound still fits one frame"
);
const _: () = assert!(
    SEND_BATCH_EVENTS <= FRAME_EVENTS_MAX,
    "a batch fits one Events frame"
);
const _: () = assert!(
    SESSION_STALL.as_millis() > RECONCILE_INTERVAL.as_millis(),
    "by default, a session is started over only after several rounds could have answered it"
);
const _: () = assert!(
    RECONCILE_INTERVAL_MIN.as_millis() <= RECONCILE_INTERVAL.as_millis()
        && RECONCILE_INTERVAL.as_millis() <= RECONCILE_INTERVAL_MAX.as_millis(),
    "the default reconciliation interval is one a config may set"
);
const _: () = assert!(
    BACKOFF_BASE.as_millis() * (1 << BACKOFF_DOUBLINGS_MAX) >= BACKOFF_MAX.as_millis(),
    "the doublings reach the longest delay"
);
const _: () = assert!(
    STATUS_STALE_MS as u128 > 2 * HOUSEKEEPING_INTERVAL.as_millis(),
    "a running daemon's status file is never taken for stale"
);
const _: () = assert!(
    CALL_TIMEOUT.as_millis() > SOCKET_IO_TIMEOUT.as_millis(),
    "the CLI waits longer than the node gives a client to write"
);
const _: () = assert!(
    EXPORT_BYTES_MAX * 2 < REPLY_BYTES_MAX,
    "an export fits one socket reply, even with every byte escaped once in its JSON line"
);
const _: () = assert!(
    REQUEST_BYTES_MAX < REPLY_BYTES_MAX,
    "a reply may be larger than a request"
);
const _: () = assert!(
    BUNDLE_RECORD_BYTES_MAX >= EVENT_BYTES_MAX + 64 + 2 * 9,
    "a bundle record holds the largest event, its signature and two varint lengths"
);
const _: () = assert!(
    EVENTS_LIST_DEFAULT <= EVENTS_LIST_MAX && EVENTS_LIST_MAX <= EVENTS_LIST_SCAN_MAX,
    "a default list fits the bound, and the bound is reachable"
);
const _: () = assert!(
    DISCOVERY_REMEMBERED_MAX > DISCOVERY_DIALS_MAX,
    "every dial in flight is remembered"
);
const _: () = assert!(
    AUDIT_PATIENTS_PER_ENTRY * (AUDIT_PATIENT_BYTES_MAX + 4)
        + 4 * (AUDIT_DETAIL_CHARS_MAX + AUDIT_LOGIN_CHARS_MAX + AUDIT_NAME_CHARS_MAX)
        + 8 * AUDIT_CLIENT_CHARS_MAX
        + 256
        <= AUDIT_ENTRY_BYTES_MAX,
    "an entry with every text at its bound and the most patients fits (4 bytes a char)"
);
const _: () = assert!(
    AUDIT_ENTRY_BYTES_MAX + 128 <= FRAME_BYTES_MAX,
    "a stored audit record is within what the codec decodes"
);
const _: () = assert!(
    AUDIT_PATIENT_BYTES_MAX
        >= 3 + reservnod_proto::patient::RESERVNUMMER_ISSUER_LEN_MAX
            + reservnod_proto::patient::RESERVNUMMER_VALUE_LEN_MAX,
    "the longest patient id fits an entry's bound for it"
);
const _: () = assert!(
    WEB_POLL_INTERVAL.as_secs() * 2 < WEB_IDLE_WARNING.as_secs(),
    "a polling page sees the idle warning's time come before the session ends"
);
const _: () = assert!(
    INBOX_POLL_LOG_INTERVAL.as_secs() > WEB_POLL_INTERVAL.as_secs() * 10,
    "the poll's reads are logged far less often than it polls"
);
const _: () = assert!(
    AUDIT_PAGE_DEFAULT <= AUDIT_PAGE_MAX && AUDIT_PAGE_MAX <= AUDIT_EXPORT_ROWS_MAX,
    "a default page is a page, and a page fits an export page"
);
const _: () = assert!(
    AUDIT_EXPORT_ROWS_MAX * 4 * (AUDIT_DETAIL_CHARS_MAX + 1_000) <= REPLY_BYTES_MAX,
    "an export page at its bounds fits one socket reply"
);
