//! Peak memory while decoding hostile input stays under a fixed bound. Its own test binary
//! with one test, so the global allocator's peak is this test's alone.

use cap::Cap;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reservnod_proto::frame::FrameDecoder;
use reservnod_proto::limits::FRAME_BYTES_MAX;

#[global_allocator]
static ALLOC: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

/// One frame buffered, its decoded form, and serde's capped pre-allocation of one sequence.
const PEAK_BYTES_MAX: usize = 4 * FRAME_BYTES_MAX;

fn hostile_inputs() -> impl Strategy<Value = Vec<u8>> {
    let prefix_then_junk =
        (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..512)).prop_map(|(len, junk)| {
            let mut v = len.to_be_bytes().to_vec();
            v.extend(junk);
            v
        });
    // A valid-looking frame header, then varints that claim huge counts and lengths.
    let huge_claims = (
        0u8..6,
        proptest::collection::vec(
            prop_oneof![Just(0xFDu8), Just(0xFF), Just(0xFC), any::<u8>()],
            0..64,
        ),
    )
        .prop_map(|(variant, claims)| {
            let mut body = vec![1u8, variant];
            body.extend(claims);
            let mut v = (body.len() as u32).to_be_bytes().to_vec();
            v.extend(body);
            v
        });
    prop_oneof![
        prefix_then_junk,
        huge_claims,
        proptest::collection::vec(any::<u8>(), 0..2048)
    ]
}

#[test]
fn decoding_hostile_input_stays_within_the_memory_bound() {
    let baseline = ALLOC.allocated();
    let mut runner = TestRunner::new(Config {
        cases: 2_000,
        ..Config::default()
    });
    runner
        .run(&hostile_inputs(), |input| {
            let _ = FrameDecoder::new().decode_all(&input);
            Ok(())
        })
        .expect("decoder never panics");
    let peak = ALLOC.max_allocated().saturating_sub(baseline);
    eprintln!(
        "peak allocation while decoding hostile input: {peak} bytes (bound {PEAK_BYTES_MAX})"
    );
    assert!(
        peak <= PEAK_BYTES_MAX,
        "peak allocation {peak} bytes exceeds {PEAK_BYTES_MAX}"
    );
}
