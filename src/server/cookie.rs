//! DNS Cookies (RFC 7873) with the interoperable server cookie of RFC 9018.
//!
//! A query's COOKIE option comes in as raw option bytes (the handler takes
//! them from hickory's parsed OPT); [`Cookies::respond`] checks them and
//! returns the option to send back: the client cookie followed by a fresh
//! version-1 server cookie, `Version(1) | Reserved(3) | Timestamp(4) |
//! Hash(8)`, where the hash is SipHash-2-4 keyed with a per-process secret
//! over `client cookie | version | reserved | timestamp | client IP`. So a
//! server cookie is bound to the client's cookie and address and can be
//! checked without state.
//!
//! We never *require* a cookie: a missing, stale or forged server cookie is
//! not an error (RFC 7873 §5.2.3–5.2.4 allow answering normally), the query is
//! answered and gets a fresh cookie. Only a malformed option (a length that is
//! no cookie at all) is FORMERR (§5.2.2).
//!
//! The secret is random per process, which RFC 9018 §5 permits, unless
//! `dns.cookie_secret_file` names a file (a mounted Secret) holding it: then
//! every replica that mounts the same Secret makes and accepts the same
//! cookies, so a client moving between replicas behind one Service keeps
//! its cookie. [`read_secret_file`] reads it; when it changes, the new
//! secret signs and the one before it still verifies ([`Cookies::rotate`],
//! RFC 9018 §4.4's rollover), so a rotation costs no client a cookie.

use std::hash::Hasher;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// EDNS option code of COOKIE (RFC 7873 §4).
pub const OPTION_CODE: u16 = 10;
const CLIENT_LEN: usize = 8;
const VERSION: u8 = 1;
/// A server cookie is usable for an hour and may be stamped up to five
/// minutes in the future (clock skew in an anycast set), RFC 9018 §4.3.
const MAX_AGE: u32 = 3600;
const MAX_SKEW: u32 = 300;

/// What the client's COOKIE option held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// A client cookie only: the client is learning our server cookie.
    ClientOnly,
    /// A server cookie we made, for this client and address, still in date.
    Valid,
    /// A server cookie we did not make (another secret, another address,
    /// forged) or one that is too old: answered normally, with a new one.
    Invalid,
}

impl Presented {
    /// The metric label (`headless_dns_cookies_total{presented}`).
    pub fn label(self) -> &'static str {
        match self {
            Presented::ClientOnly => "client_only",
            Presented::Valid => "valid",
            Presented::Invalid => "invalid",
        }
    }
}

/// Why a COOKIE option is not one (RFC 7873 §5.2.2: FORMERR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The server secret (and the one before a rotation) and the cookie rules.
#[derive(Clone)]
pub struct Cookies {
    secret: [u8; 16],
    /// Still accepted after a rotation, never used to make a cookie.
    previous: Option<[u8; 16]>,
}

impl std::fmt::Debug for Cookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cookies { secret: <hidden> }")
    }
}

impl Cookies {
    /// A fresh random secret, from the operating system.
    pub fn new() -> Self {
        Self::with_secret(random_secret())
    }

    /// A fixed secret (a shared secret file, tests, RFC 9018's vectors).
    pub fn with_secret(secret: [u8; 16]) -> Self {
        Self {
            secret,
            previous: None,
        }
    }

    /// Cookies made with `secret` from now on; the current secret still
    /// verifies until the next rotation. The same secret again changes
    /// nothing.
    pub fn rotate(&self, secret: [u8; 16]) -> Self {
        if secret == self.secret {
            return self.clone();
        }
        Self {
            secret,
            previous: Some(self.secret),
        }
    }

    /// Whether cookies are made with `secret`.
    pub fn uses(&self, secret: &[u8; 16]) -> bool {
        self.secret == *secret
    }

    /// The 16-byte version-1 server cookie for this client cookie and
    /// address at `timestamp` (seconds since the epoch, mod 2^32).
    pub fn server_cookie(&self, client: &[u8; 8], ip: IpAddr, timestamp: u32) -> [u8; 16] {
        let mut cookie = [0u8; 16];
        cookie[0] = VERSION;
        cookie[4..8].copy_from_slice(&timestamp.to_be_bytes());
        let hash = hash(&self.secret, client, &cookie[..8], ip);
        cookie[8..].copy_from_slice(&hash);
        cookie
    }
}

/// SipHash-2-4 keyed with `secret` of `client | version, reserved,
/// timestamp | ip`.
fn hash(secret: &[u8; 16], client: &[u8; 8], head: &[u8], ip: IpAddr) -> [u8; 8] {
    {
        let k0 = u64::from_le_bytes(secret[..8].try_into().unwrap_or_default());
        let k1 = u64::from_le_bytes(secret[8..].try_into().unwrap_or_default());
        // SipHash-2-4, fed with one byte stream through `write`: the plain
        // function RFC 9018 names, as its test vectors below confirm.
        let mut hasher = siphasher::sip::SipHasher24::new_with_keys(k0, k1);
        let mut input = [0u8; 8 + 8 + 16];
        input[..8].copy_from_slice(client);
        input[8..16].copy_from_slice(head);
        let len = match ip.to_canonical() {
            IpAddr::V4(v4) => {
                input[16..20].copy_from_slice(&v4.octets());
                20
            }
            IpAddr::V6(v6) => {
                input[16..32].copy_from_slice(&v6.octets());
                32
            }
        };
        hasher.write(&input[..len]);
        hasher.finish().to_le_bytes()
    }
}

impl Cookies {
    /// Checks a COOKIE option from `ip` at `now` (seconds since the epoch)
    /// and returns what it held and the option data to answer with.
    pub fn respond(
        &self,
        option: &[u8],
        ip: IpAddr,
        now: u32,
    ) -> Result<(Presented, [u8; 24]), Malformed> {
        // 8 bytes of client cookie, then nothing or 8 to 32 of server cookie.
        if !(option.len() == CLIENT_LEN || (16..=40).contains(&option.len())) {
            return Err(Malformed);
        }
        let mut client = [0u8; CLIENT_LEN];
        client.copy_from_slice(&option[..CLIENT_LEN]);
        let server = &option[CLIENT_LEN..];
        let presented = if server.is_empty() {
            Presented::ClientOnly
        } else if self.verify(&client, server, ip, now) {
            Presented::Valid
        } else {
            Presented::Invalid
        };
        let mut reply = [0u8; 24];
        reply[..8].copy_from_slice(&client);
        reply[8..].copy_from_slice(&self.server_cookie(&client, ip, now));
        Ok((presented, reply))
    }

    /// Whether `server` is a version-1 cookie we made for `client` at `ip`,
    /// and still in date at `now`. The reserved bytes are hashed as sent.
    fn verify(&self, client: &[u8; 8], server: &[u8], ip: IpAddr, now: u32) -> bool {
        if server.len() != 16 || server[0] != VERSION {
            return false;
        }
        let stamped = u32::from_be_bytes([server[4], server[5], server[6], server[7]]);
        // Serial-number arithmetic: the timestamp wraps in 2106.
        let age = now.wrapping_sub(stamped);
        let usable = age <= MAX_AGE || stamped.wrapping_sub(now) <= MAX_SKEW;
        usable
            && std::iter::once(&self.secret)
                .chain(self.previous.as_ref())
                .any(|secret| hash(secret, client, &server[..8], ip) == server[8..16])
    }
}

impl Default for Cookies {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads a cookie secret file: 16 bytes written as 32 hex digits (what
/// `openssl rand -hex 16` prints), surrounding whitespace allowed. `None`
/// when the file does not exist (an optional Secret not created yet); the
/// error says what is wrong and never shows the file's content.
pub fn read_secret_file(path: &std::path::Path) -> Result<Option<[u8; 16]>, SecretFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SecretFileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse_secret(text.trim())
        .map(Some)
        .map_err(|reason| SecretFileError::Malformed {
            path: path.to_owned(),
            reason,
        })
}

/// A cookie secret file that exists but cannot be used; never shows the
/// file's content.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read cookie secret file {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cookie secret file {}: {reason}", path.display())]
    Malformed {
        path: std::path::PathBuf,
        reason: String,
    },
}

fn parse_secret(text: &str) -> Result<[u8; 16], String> {
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "expected 32 hex digits (16 bytes, e.g. from `openssl rand -hex 16`), found {} characters{}",
            text.len(),
            if text.bytes().all(|b| b.is_ascii_hexdigit()) {
                ""
            } else {
                " that are not all hex digits"
            }
        ));
    }
    let mut secret = [0u8; 16];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte =
            u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| "not hex".to_owned())?;
    }
    Ok(secret)
}

/// Seconds since the epoch, mod 2^32, as cookie timestamps count them.
pub fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// 16 random bytes from the operating system. Without a random source
/// (never on Linux since 3.17), from std's per-process random hash keys,
/// which are still unpredictable off the host.
pub fn random_secret() -> [u8; 16] {
    let mut secret = [0u8; 16];
    if getrandom::fill(&mut secret).is_ok() {
        return secret;
    }
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    secret[..8].copy_from_slice(&state.hash_one(0u8).to_le_bytes());
    secret[8..].copy_from_slice(&state.hash_one(1u8).to_le_bytes());
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn secret(s: &str) -> Cookies {
        Cookies::with_secret(hex(s).try_into().unwrap())
    }

    /// RFC 9018 Appendix A: the four server cookies it computes.
    #[test]
    fn rfc9018_test_vectors() {
        for (secret_hex, client, ip, at, want) in [
            (
                "e5e973e5a6b2a43f48e7dc849e37bfcf",
                "2464c4abcf10c957",
                "198.51.100.100",
                1559731985,
                "010000005cf79f111f8130c3eee29480",
            ),
            (
                "e5e973e5a6b2a43f48e7dc849e37bfcf",
                "2464c4abcf10c957",
                "198.51.100.100",
                1559734385,
                "010000005cf7a871d4a564a1442aca77",
            ),
            (
                "e5e973e5a6b2a43f48e7dc849e37bfcf",
                "fc93fc62807ddb86",
                "203.0.113.203",
                1559734700,
                "010000005cf7a9acf73a7810aca2381e",
            ),
            (
                "445536bcd2513298075a5d379663c962",
                "22681ab97d52c298",
                "2001:db8:220:1:59de:d0f4:8769:82b8",
                1559741961,
                "010000005cf7c609a6bb79d16625507a",
            ),
        ] {
            let client: [u8; 8] = hex(client).try_into().unwrap();
            let got = secret(secret_hex).server_cookie(&client, ip.parse().unwrap(), at);
            assert_eq!(got.to_vec(), hex(want), "{ip} at {at}");
        }
    }

    /// RFC 9018 A.3's client sent reserved bytes that are not zero; they are
    /// part of the hash, and the cookie verifies while in date. When A.3
    /// presents it, it is almost two hours old: answered with the fresh
    /// cookie the RFC shows.
    #[test]
    fn cookies_from_the_rfc_verify_and_others_do_not() {
        let cookies = secret("e5e973e5a6b2a43f48e7dc849e37bfcf");
        let option = hex("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
        let ip: IpAddr = "203.0.113.203".parse().unwrap();
        let stamped = 0x5cf7_8f71;
        assert_eq!(
            cookies.respond(&option, ip, stamped + 60).unwrap().0,
            Presented::Valid
        );
        let (presented, reply) = cookies.respond(&option, ip, 1559734700).unwrap();
        assert_eq!(presented, Presented::Invalid);
        assert_eq!(
            reply.to_vec(),
            hex("fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e")
        );
        // Another address, the same cookie: not ours.
        let other: IpAddr = "203.0.113.204".parse().unwrap();
        assert_eq!(
            cookies.respond(&option, other, stamped + 60).unwrap().0,
            Presented::Invalid
        );
        // Another secret (A.4's rollover).
        let old = hex("22681ab97d52c298010000005cf7c57926556bd0934c72f8");
        let v6: IpAddr = "2001:db8:220:1:59de:d0f4:8769:82b8".parse().unwrap();
        let at = 1559741961;
        assert_eq!(
            secret("dd3bdf9344b678b185a6f5cb60fca715")
                .respond(&old, v6, at)
                .unwrap()
                .0,
            Presented::Valid
        );
        assert_eq!(
            secret("445536bcd2513298075a5d379663c962")
                .respond(&old, v6, at)
                .unwrap()
                .0,
            Presented::Invalid
        );
    }

    #[test]
    fn lengths_outside_the_rfc_are_malformed() {
        let cookies = Cookies::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for len in [0, 1, 7, 9, 15, 41, 64] {
            assert_eq!(
                cookies.respond(&vec![7; len], ip, 0).map(|r| r.0),
                Err(Malformed),
                "{len}"
            );
        }
        for len in [8, 16, 24, 40] {
            assert!(cookies.respond(&vec![7; len], ip, 0).is_ok(), "{len}");
        }
    }

    #[test]
    fn a_cookie_ages_out_after_an_hour_and_allows_five_minutes_of_skew() {
        let cookies = Cookies::with_secret([9; 16]);
        let ip: IpAddr = "::1".parse().unwrap();
        let client = [1u8; 8];
        let made_at = u32::MAX - 100; // across the 2106 wrap as well
        let mut option = client.to_vec();
        option.extend_from_slice(&cookies.server_cookie(&client, ip, made_at));
        let check = |now: u32| cookies.respond(&option, ip, now).unwrap().0;
        assert_eq!(check(made_at), Presented::Valid);
        assert_eq!(check(made_at.wrapping_add(MAX_AGE)), Presented::Valid);
        assert_eq!(check(made_at.wrapping_add(MAX_AGE + 1)), Presented::Invalid);
        assert_eq!(check(made_at.wrapping_sub(MAX_SKEW)), Presented::Valid);
        assert_eq!(
            check(made_at.wrapping_sub(MAX_SKEW + 1)),
            Presented::Invalid
        );
    }

    #[test]
    fn a_rotation_keeps_accepting_the_previous_secret() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let client = [7u8; 8];
        let old = Cookies::with_secret([1; 16]);
        let cookie = old.server_cookie(&client, ip, 1000);
        let mut option = client.to_vec();
        option.extend_from_slice(&cookie);
        let rotated = old.rotate([2; 16]);
        assert_eq!(
            rotated.respond(&option, ip, 1000).unwrap().0,
            Presented::Valid
        );
        // The new cookie is made with the new secret only.
        let (_, reply) = rotated.respond(&option, ip, 1000).unwrap();
        assert_ne!(&reply[8..], &cookie[..]);
        assert!(rotated.uses(&[2; 16]));
        // Two rotations later the first secret is gone.
        let twice = rotated.rotate([3; 16]);
        assert_eq!(
            twice.respond(&option, ip, 1000).unwrap().0,
            Presented::Invalid
        );
        // Rotating to the same secret keeps the previous one.
        let same = rotated.rotate([2; 16]);
        assert_eq!(same.respond(&option, ip, 1000).unwrap().0, Presented::Valid);
    }

    #[test]
    fn secret_files_hold_32_hex_digits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "000102030405060708090a0b0c0d0E0F\n").unwrap();
        assert_eq!(
            read_secret_file(&path).unwrap(),
            Some([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
        );
        for bad in ["00", "zz0102030405060708090a0b0c0d0e0f", ""] {
            std::fs::write(&path, bad).unwrap();
            let err = read_secret_file(&path).unwrap_err().to_string();
            assert!(err.contains("32 hex digits"), "{bad}: {err}");
            assert!(err.contains("secret"), "{err}");
        }
        // Absent (an optional Secret not created): no secret, no error.
        assert!(matches!(
            read_secret_file(&dir.path().join("missing")),
            Ok(None)
        ));
        // A folder where the file should be: an error naming it.
        let err = read_secret_file(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn every_process_has_its_own_secret() {
        assert_ne!(random_secret(), random_secret());
    }
}
