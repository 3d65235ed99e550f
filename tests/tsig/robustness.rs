//! Robustness, by proptest: a signed request with bytes flipped or cut off
//! never panics, every answer message parses, and a transfer goes out only
//! for a request still validly signed.

use super::*;
use std::path::Path;

use headless_dns::transfer::Outcome;
use headless_dns::transfer::tsig::{self, Checked};
use headless_dns::wire::last_additional;
use hickory_proto::op::Message;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

    /// A signed request with bytes flipped or cut off: never a panic, every
    /// answer message parses, and a transfer goes out only for a request
    /// the checker still finds validly signed (so only to the key holder).
    #[test]
    fn damaged_signed_requests_are_answered_safely(
        flips in proptest::collection::vec((0usize..4096, 1u8..=255), 0..4),
        cut in proptest::option::of(0usize..4096),
        ixfr_query in proptest::bool::ANY,
    ) {
        let f = fixture(3);
        let request = if ixfr_query { ixfr(1) } else { axfr() };
        let (mut bytes, _) = signed(request, &good_signer(), now());
        for (at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        let (outcome, raw) = f.transfer.answer(&bytes, LOCAL);
        for message in &raw {
            proptest::prop_assert!(Message::from_vec(message).is_ok(), "{outcome:?}");
        }
        let ring = headless_dns::transfer::keys::parse(KEYS_FILE, Path::new("k")).unwrap();
        if matches!(outcome, Outcome::Axfr { .. } | Outcome::Full { .. } | Outcome::Incremental { .. } | Outcome::UpToDate { .. }) {
            let checked = tsig::check(&ring, &bytes, last_additional(&bytes), now());
            proptest::prop_assert!(matches!(checked, Checked::Signed { .. }), "{checked:?}");
        }
    }
}
