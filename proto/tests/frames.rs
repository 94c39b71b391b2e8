//! The frame decoder on arbitrary and hostile bytes: it never panics, never buffers more
//! than one frame, and refuses hostile lengths at once.

use reservnod_proto::testkit as common;

use proptest::prelude::*;
use reservnod_proto::frame::{
    Frame, FrameDecoder, FrameError, Hello, DECODER_BUFFER_MAX, PROTOCOL_VERSION,
};
use reservnod_proto::limits::FRAME_BYTES_MAX;
use reservnod_proto::{Hlc, NodeKey};

fn sample_frames() -> Vec<Frame> {
    let r = common::region("frames");
    let mut rng = common::SeededRng::new("frames");
    let ev = r
        .clinical(
            &mut rng,
            b"hej",
            Hlc {
                wall_ms: 5,
                logical: 1,
            },
        )
        .sign(&r.ward.1)
        .expect("sign");
    vec![
        Frame::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            roster_version: 7,
            node: NodeKey::from_seed(&[1; 32]).id(),
            hlc: Hlc {
                wall_ms: 1,
                logical: 2,
            },
        }),
        Frame::Events(vec![ev.clone(), ev]),
        Frame::Roster(r.roster.sign(&r.admin).expect("sign")),
        Frame::Ping {
            nonce: 42,
            hlc: Hlc::default(),
        },
        Frame::Pong {
            nonce: 42,
            hlc: Hlc::default(),
        },
        Frame::Goodbye {
            reason: "avstängning".into(),
        },
    ]
}

#[test]
fn a_four_gib_length_prefix_is_refused_before_buffering() {
    let mut d = FrameDecoder::new();
    let took = d.push(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]);
    assert_eq!(took, 4, "nothing past the prefix is taken");
    assert_eq!(
        d.poll(),
        Err(FrameError::TooLarge {
            len: u32::MAX as usize,
            max: FRAME_BYTES_MAX
        })
    );
    assert_eq!(d.push(&[0; 100]), 0, "a failed stream takes nothing more");
    assert!(d.poll().is_err());
}

#[test]
fn an_empty_frame_and_a_wrong_version_are_refused() {
    assert_eq!(
        FrameDecoder::new().decode_all(&[0, 0, 0, 0]),
        Err(FrameError::Empty)
    );
    assert_eq!(
        FrameDecoder::new().decode_all(&[0, 0, 0, 2, 9, 0]),
        Err(FrameError::UnsupportedVersion(9))
    );
}

#[test]
fn a_frame_over_the_limit_is_refused_when_encoding() {
    let huge = Frame::Goodbye {
        reason: "x".repeat(FRAME_BYTES_MAX),
    };
    assert!(huge.encode().is_err());
}

#[test]
fn hostile_counts_inside_a_small_frame_are_refused() {
    // Events frame (variant 1) announcing u64::MAX events, then nothing.
    let mut body = vec![1u8, 1];
    body.extend_from_slice(&[0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    let mut wire = (body.len() as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(&body);
    assert!(matches!(
        FrameDecoder::new().decode_all(&wire),
        Err(FrameError::Malformed(_))
    ));
    // One event whose bytes claim a gigabyte.
    let mut body = vec![1u8, 1, 1, 0xFC];
    body.extend_from_slice(&(1u32 << 30).to_le_bytes());
    let mut wire = (body.len() as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(&body);
    assert!(matches!(
        FrameDecoder::new().decode_all(&wire),
        Err(FrameError::Malformed(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_or_overbuffer(bytes in proptest::collection::vec(any::<u8>(), 0..4096), chunk in 1usize..600) {
        let mut d = FrameDecoder::new();
        let mut input = &bytes[..];
        // Bounded: every round either consumes input or ends the stream.
        for _ in 0..(bytes.len() + 2) {
            let took = d.push(&input[..chunk.min(input.len())]);
            input = &input[took..];
            prop_assert!(d.buffered() <= DECODER_BUFFER_MAX);
            match d.poll() {
                Ok(Some(_)) | Ok(None) => {}
                Err(_) => break,
            }
            if input.is_empty() { break; }
        }
    }

    #[test]
    fn arbitrary_payloads_after_a_valid_prefix_never_panic(payload in proptest::collection::vec(any::<u8>(), 1..2048)) {
        let mut wire = (payload.len() as u32 + 1).to_be_bytes().to_vec();
        wire.push(1);
        wire.extend_from_slice(&payload);
        let _ = FrameDecoder::new().decode_all(&wire);
    }

    #[test]
    fn frames_survive_any_chunking(cut in proptest::collection::vec(1usize..300, 1..50)) {
        let frames = sample_frames();
        let mut wire = Vec::new();
        for f in &frames { wire.extend_from_slice(&f.encode().expect("encode")); }
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        let mut input = &wire[..];
        let mut i = 0;
        while !input.is_empty() {
            let n = cut[i % cut.len()].min(input.len());
            i += 1;
            let mut piece = &input[..n];
            input = &input[n..];
            while !piece.is_empty() {
                let took = d.push(piece);
                piece = &piece[took..];
                while let Some(f) = d.poll().expect("valid stream") { got.push(f); }
            }
        }
        prop_assert_eq!(got, frames);
    }
}
