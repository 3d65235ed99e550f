//! Response rate limiting (RRL) for UDP, as BIND and Knot DNS do it.
//!
//! An authoritative server's UDP answers can be aimed at a victim by
//! spoofing the victim's address. RRL caps how many answers of one kind go
//! to one network: every (client prefix, response class) pair has a token
//! bucket that fills at `responses_per_second` up to one second's worth
//! and may run into debt down to `window` seconds' worth, so a flood keeps
//! being limited for `window` seconds after it ends. An answer that finds
//! the bucket empty is dropped, except every `slip`-th, which is *slipped*:
//! sent as an empty answer with TC set, so a real client behind the prefix
//! retries over TCP (which RRL never limits, since TCP proves the address)
//! while the victim of a reflection gets a small packet at most.
//!
//! The UDP workers call [`Rrl::check`] for every answer, fast path or slow,
//! just before it joins the send batch, with the [`ResponseClass`] that the
//! path which made the answer reports (`server/packet.rs`); only [`slip`],
//! which rewrites a limited answer, works on the response bytes.
//!
//! The buckets live in one fixed table of atomics ([`TABLE_SLOTS`] of them,
//! 512 KiB), indexed by a keyed SipHash of (prefix, class): no lock, no
//! allocation, and memory that does not grow with the number of clients.
//! Two keys that share a slot reset each other's bucket to full (the tag
//! stored with the bucket tells them apart); the per-process hash key makes
//! that impossible for an attacker to aim at a chosen victim.

use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;

use crate::wire::{self, HEADER};

/// Buckets in the table. A power of two.
pub const TABLE_SLOTS: usize = 1 << 16;

/// What RRL is told to do (`dns.rrl` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RrlSettings {
    /// Answers per second and (prefix, class) before limiting starts.
    pub responses_per_second: u32,
    /// How far into debt a bucket may go, in seconds of answers: a limited
    /// prefix stays limited this long after its flood stops.
    pub window: Duration,
    /// Every `slip`-th limited answer is sent truncated instead of dropped;
    /// 0 drops them all, 1 truncates them all.
    pub slip: u32,
    /// Clients are grouped by these many leading address bits.
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
}

/// The kinds of answer that are limited separately, as in BIND: a flood of
/// NXDOMAIN for random names does not use up the positive answers of the
/// same network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseClass {
    /// NOERROR with records in the answer section.
    Positive,
    /// NOERROR with an empty answer section.
    NoData,
    NxDomain,
    /// Every other response code (FORMERR, REFUSED, NOTIMP, SERVFAIL, ...).
    Error,
}

impl ResponseClass {
    /// The class of a response with `rcode` (the whole RCODE, extended
    /// bits included: BADVERS and friends are errors) and `answers` records
    /// in its answer section as sent (none once truncated). The path that
    /// made the response says both; nothing reads the bytes back.
    pub fn of(rcode: ResponseCode, answers: u16) -> Self {
        match rcode {
            ResponseCode::NoError if answers > 0 => ResponseClass::Positive,
            ResponseCode::NoError => ResponseClass::NoData,
            ResponseCode::NXDomain => ResponseClass::NxDomain,
            _ => ResponseClass::Error,
        }
    }

    fn code(self) -> u8 {
        match self {
            ResponseClass::Positive => 0,
            ResponseClass::NoData => 1,
            ResponseClass::NxDomain => 2,
            ResponseClass::Error => 3,
        }
    }
}

/// What to do with one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    Drop,
    /// Send it emptied, with TC set ([`slip`]).
    Slip,
}

/// The limiter. Shared by every UDP worker.
pub struct Rrl {
    settings: RrlSettings,
    /// SipHash key, random per process.
    key: (u64, u64),
    slots: Box<[AtomicU64]>,
    epoch: Instant,
}

impl std::fmt::Debug for Rrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rrl")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

// A slot packs one bucket into 64 bits, so it is updated with one
// compare-and-swap: tag (12 bits, never 0 so an empty slot matches no key)
// | time of the last update in whole seconds since `epoch`, mod 2^16 (16)
// | slip counter (4) | balance, a signed 32-bit token count (32).
const TAG_SHIFT: u32 = 52;
const TIME_SHIFT: u32 = 36;
const SLIP_SHIFT: u32 = 32;

fn pack(tag: u64, time: u16, slip: u8, balance: i32) -> u64 {
    (tag << TAG_SHIFT)
        | (u64::from(time) << TIME_SHIFT)
        | (u64::from(slip & 0x0f) << SLIP_SHIFT)
        | u64::from(balance as u32)
}

fn unpack(slot: u64) -> (u64, u16, u8, i32) {
    (
        slot >> TAG_SHIFT,
        (slot >> TIME_SHIFT) as u16,
        ((slot >> SLIP_SHIFT) & 0x0f) as u8,
        slot as u32 as i32,
    )
}

impl Rrl {
    pub fn new(settings: RrlSettings) -> Self {
        let secret = super::cookie::random_secret();
        Self::with_key(
            settings,
            (
                u64::from_le_bytes(secret[..8].try_into().unwrap_or_default()),
                u64::from_le_bytes(secret[8..].try_into().unwrap_or_default()),
            ),
            Instant::now(),
        )
    }

    /// With a fixed hash key and epoch (tests).
    pub fn with_key(settings: RrlSettings, key: (u64, u64), epoch: Instant) -> Self {
        Self {
            settings,
            key,
            slots: (0..TABLE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            epoch,
        }
    }

    pub fn settings(&self) -> &RrlSettings {
        &self.settings
    }

    /// The client's network: its address with only the prefix bits kept.
    fn prefix(&self, ip: IpAddr) -> [u8; 17] {
        let mut out = [0u8; 17];
        let (bytes, bits): (&[u8], u8) = match ip.to_canonical() {
            IpAddr::V4(v4) => {
                out[16] = 4;
                out[..4].copy_from_slice(&v4.octets());
                (&out[..4], self.settings.ipv4_prefix.min(32))
            }
            IpAddr::V6(v6) => {
                out[16] = 6;
                out[..16].copy_from_slice(&v6.octets());
                (&out[..16], self.settings.ipv6_prefix.min(128))
            }
        };
        let len = bytes.len();
        for (i, byte) in out[..len].iter_mut().enumerate() {
            let keep = usize::from(bits).saturating_sub(i * 8).min(8);
            *byte &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
        }
        out
    }

    /// Decides the fate of one answer of `class` to `ip` at `now`.
    pub fn check(&self, ip: IpAddr, class: ResponseClass, now: Instant) -> Verdict {
        let mut hasher = siphasher::sip::SipHasher24::new_with_keys(self.key.0, self.key.1);
        hasher.write(&self.prefix(ip));
        hasher.write_u8(class.code());
        let hash = hasher.finish();
        let slot = &self.slots[(hash as usize) & (TABLE_SLOTS - 1)];
        let tag = (hash >> TAG_SHIFT) | 1;

        let rate = i64::from(self.settings.responses_per_second.max(1));
        let floor = -(rate * self.settings.window.as_secs().max(1) as i64).min(i64::from(i32::MAX));
        let now_secs = now.saturating_duration_since(self.epoch).as_secs() as u16;
        let slip_every = self.settings.slip.min(15) as u8;

        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let (old_tag, time, old_slip, old_balance) = unpack(current);
            let (balance, slip) = if old_tag == tag {
                let elapsed = i64::from(now_secs.wrapping_sub(time));
                (
                    (i64::from(old_balance) + elapsed * rate).min(rate),
                    old_slip,
                )
            } else {
                // Empty, or another key's: start full.
                (rate, 0)
            };
            let balance = (balance - 1).max(floor);
            let (verdict, slip) = if balance >= 0 {
                (Verdict::Send, slip)
            } else if slip_every == 0 {
                (Verdict::Drop, slip)
            } else if slip + 1 >= slip_every {
                (Verdict::Slip, 0)
            } else {
                (Verdict::Drop, slip + 1)
            };
            let next = pack(tag, now_secs, slip, balance as i32);
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return verdict,
                Err(seen) => current = seen,
            }
        }
    }
}

/// Turns a response into its slip form: the header and question, no
/// records but the OPT (so an EDNS client still sees EDNS), TC set.
/// A response that cannot be walked is cut to its header.
pub fn slip(response: &mut Vec<u8>) {
    if response.len() < HEADER {
        return;
    }
    match wire::layout(response) {
        Some((question_end, opt)) => {
            let opt_bytes = opt.map(|(start, end)| response[start..end].to_vec());
            response.truncate(question_end);
            let additional: u16 = if let Some(opt) = opt_bytes {
                response.extend_from_slice(&opt);
                1
            } else {
                0
            };
            response[6..10].fill(0);
            response[10..12].copy_from_slice(&additional.to_be_bytes());
        }
        None => {
            response.truncate(HEADER);
            response[4..HEADER].fill(0);
        }
    }
    response[2] |= 0x02;
}

/// A response's class read back from its bytes (header RCODE and
/// ANCOUNT, OPT's extended RCODE): what RRL did before the paths
/// reported it, kept to hold [`ResponseClass::of`] to it.
#[cfg(test)]
pub(crate) fn class_of(response: &[u8]) -> ResponseClass {
    if response.len() < HEADER {
        return ResponseClass::Error;
    }
    let rcode = response[3] & 0x0f;
    let answers = u16::from_be_bytes([response[6], response[7]]);
    match rcode {
        0 if wire::extended_rcode(response) != 0 => ResponseClass::Error,
        0 if answers > 0 => ResponseClass::Positive,
        0 => ResponseClass::NoData,
        3 => ResponseClass::NxDomain,
        _ => ResponseClass::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: u32, window: u64, slip: u32) -> RrlSettings {
        RrlSettings {
            responses_per_second: rate,
            window: Duration::from_secs(window),
            slip,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
        }
    }

    fn rrl(s: RrlSettings) -> (Rrl, Instant) {
        let epoch = Instant::now();
        (Rrl::with_key(s, (1, 2), epoch), epoch)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn count(verdicts: &[Verdict], v: Verdict) -> usize {
        verdicts.iter().filter(|x| **x == v).count()
    }

    #[test]
    fn a_burst_gets_one_second_of_answers_then_slips_every_nth() {
        let (rrl, t0) = rrl(settings(5, 15, 2));
        let verdicts: Vec<Verdict> = (0..25)
            .map(|_| rrl.check(ip("192.0.2.1"), ResponseClass::Positive, t0))
            .collect();
        assert_eq!(verdicts[..5], [Verdict::Send; 5]);
        // Then alternately dropped and slipped.
        assert_eq!(
            verdicts[5..9],
            [Verdict::Drop, Verdict::Slip, Verdict::Drop, Verdict::Slip]
        );
        assert_eq!(count(&verdicts, Verdict::Send), 5);
        assert_eq!(count(&verdicts, Verdict::Slip), 10);
        assert_eq!(count(&verdicts, Verdict::Drop), 10);
    }

    #[test]
    fn slip_zero_drops_all_and_slip_one_truncates_all() {
        let (none, t0) = rrl(settings(1, 1, 0));
        let v: Vec<_> = (0..10)
            .map(|_| none.check(ip("192.0.2.1"), ResponseClass::Positive, t0))
            .collect();
        assert_eq!(count(&v, Verdict::Drop), 9);
        let (all, t0) = rrl(settings(1, 1, 1));
        let v: Vec<_> = (0..10)
            .map(|_| all.check(ip("192.0.2.1"), ResponseClass::Positive, t0))
            .collect();
        assert_eq!(count(&v, Verdict::Slip), 9);
    }

    #[test]
    fn a_prefix_shares_a_bucket_and_other_prefixes_do_not() {
        let (rrl, t0) = rrl(settings(2, 5, 0));
        // Same /24: one bucket of two.
        assert_eq!(
            rrl.check(ip("192.0.2.1"), ResponseClass::Positive, t0),
            Verdict::Send
        );
        assert_eq!(
            rrl.check(ip("192.0.2.200"), ResponseClass::Positive, t0),
            Verdict::Send
        );
        assert_eq!(
            rrl.check(ip("192.0.2.7"), ResponseClass::Positive, t0),
            Verdict::Drop
        );
        // Another /24, and another class of the same /24: their own buckets.
        assert_eq!(
            rrl.check(ip("192.0.3.1"), ResponseClass::Positive, t0),
            Verdict::Send
        );
        assert_eq!(
            rrl.check(ip("192.0.2.1"), ResponseClass::NxDomain, t0),
            Verdict::Send
        );
        // IPv6 by /56.
        assert_eq!(
            rrl.check(ip("2001:db8:0:1::1"), ResponseClass::Error, t0),
            Verdict::Send
        );
        assert_eq!(
            rrl.check(ip("2001:db8:0:ff::2"), ResponseClass::Error, t0),
            Verdict::Send
        );
        assert_eq!(
            rrl.check(ip("2001:db8:0:7::3"), ResponseClass::Error, t0),
            Verdict::Drop
        );
        assert_eq!(
            rrl.check(ip("2001:db8:0:100::1"), ResponseClass::Error, t0),
            Verdict::Send
        );
    }

    #[test]
    fn debt_lasts_the_window_and_then_answers_resume() {
        let (rrl, t0) = rrl(settings(10, 3, 0));
        let client = ip("198.51.100.9");
        // A long flood runs the bucket to its floor (-30).
        for _ in 0..1000 {
            rrl.check(client, ResponseClass::NxDomain, t0);
        }
        // Two seconds later it has earned 20 back: still in debt.
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(
            rrl.check(client, ResponseClass::NxDomain, t2),
            Verdict::Drop
        );
        // Four seconds after the flood: 40 earned, out of debt, and capped
        // at one second's worth.
        let t4 = t0 + Duration::from_secs(4);
        let v: Vec<_> = (0..20)
            .map(|_| rrl.check(client, ResponseClass::NxDomain, t4))
            .collect();
        assert!(count(&v, Verdict::Send) >= 1, "{v:?}");
        assert!(count(&v, Verdict::Send) <= 10, "{v:?}");
    }

    #[test]
    fn a_steady_rate_below_the_limit_is_never_limited() {
        let (rrl, t0) = rrl(settings(10, 15, 2));
        for second in 0..100u64 {
            let at = t0 + Duration::from_secs(second);
            for _ in 0..10 {
                assert_eq!(
                    rrl.check(ip("10.1.2.3"), ResponseClass::Positive, at),
                    Verdict::Send,
                    "second {second}"
                );
            }
        }
    }

    #[test]
    fn memory_is_the_table_whatever_the_number_of_clients() {
        let (rrl, t0) = rrl(settings(1, 1, 0));
        for i in 0..200_000u32 {
            rrl.check(
                IpAddr::from((i << 8).to_be_bytes()),
                ResponseClass::Positive,
                t0,
            );
        }
        assert_eq!(rrl.slots.len(), TABLE_SLOTS);
    }

    #[test]
    fn class_of_rcode_and_answer_count() {
        for (rcode, answers, class) in [
            (ResponseCode::NoError, 2, ResponseClass::Positive),
            (ResponseCode::NoError, 0, ResponseClass::NoData),
            (ResponseCode::NXDomain, 0, ResponseClass::NxDomain),
            (ResponseCode::NXDomain, 1, ResponseClass::NxDomain),
            (ResponseCode::Refused, 0, ResponseClass::Error),
            (ResponseCode::FormErr, 0, ResponseClass::Error),
            (ResponseCode::BADVERS, 0, ResponseClass::Error),
        ] {
            assert_eq!(ResponseClass::of(rcode, answers), class, "{rcode:?}");
        }
    }

    #[test]
    fn class_and_slip_read_the_wire() {
        // A NOERROR answer with one A record and an OPT.
        let mut response = vec![
            0x12, 0x34, 0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 1, // header
            1, b'a', 0, 0, 1, 0, 1, // question a. A IN
            0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1, // a. A 10.0.0.1
            0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0, // OPT
        ];
        assert_eq!(class_of(&response), ResponseClass::Positive);
        slip(&mut response);
        assert_eq!(
            response,
            vec![
                0x12, 0x34, 0x87, 0x00, 0, 1, 0, 0, 0, 0, 0, 1, // TC, AN 0, AR 1
                1, b'a', 0, 0, 1, 0, 1, //
                0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0,
            ]
        );
        assert_eq!(class_of(&response), ResponseClass::NoData);
        let mut nx = response.clone();
        nx[3] = 3;
        assert_eq!(class_of(&nx), ResponseClass::NxDomain);
        let mut refused = response.clone();
        refused[3] = 5;
        assert_eq!(class_of(&refused), ResponseClass::Error);
        // BADVERS: RCODE 0 in the header, 1 in OPT's extended bits.
        let mut badvers = response.clone();
        badvers[24] = 1;
        assert_eq!(class_of(&badvers), ResponseClass::Error);
        // Garbage is cut to a header, TC set, counts zero.
        let mut junk = vec![0xab; 40];
        junk[4..6].copy_from_slice(&[0, 9]);
        junk[12] = 0x7f;
        slip(&mut junk);
        assert_eq!(junk.len(), 12);
        assert_eq!(junk[2] & 0x02, 0x02);
        assert_eq!(junk[4..12], [0; 8]);
    }
}
