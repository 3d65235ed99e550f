//! NOTIFY (RFC 1996): tell secondaries the zone changed, so they transfer
//! within a moment instead of at the SOA refresh interval.
//!
//! [`watch`] is one task. It polls the snapshot store (`ArcSwap` has no
//! change signal; a load every [`POLL`] is one atomic read, and keeps the
//! driver free of transfer concerns), files every new synced snapshot in
//! the journal, and asks the [`Coalescer`] whether a round of NOTIFYs is
//! due: at once for the first change after a quiet interval, else at the end
//! of the interval, so a burst of changes costs each secondary one NOTIFY
//! per zone per interval. Each (secondary, zone) NOTIFY is its own task
//! ([`send`]): sent over UDP and resent with a doubling timeout until the
//! secondary answers with a NOTIFY response bearing the same ID; a newer
//! round replaces one still retrying. The first synced snapshot counts as a
//! change, so secondaries hear from a restarted primary at once.
//!
//! A secondary listed with a key gets its NOTIFY signed with that key
//! (TSIG, RFC 8945), and only an answer whose signature verifies (hickory's
//! `TSigVerifier`, chained to our request's MAC) acknowledges it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Transfer;
use super::auth::NotifyTarget;
use super::keys::Key;

/// How often the store is checked for a new snapshot: the most a change
/// waits before its NOTIFY is considered.
pub const POLL: Duration = Duration::from_millis(25);

/// How NOTIFY is sent; whom to comes from the [`Transfer`]'s `Auth`, read
/// at every round (so a SIGHUP that changes `transfer.notify` or a key
/// takes effect at the next change).
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// At most one round per this long.
    pub interval: Duration,
    /// Sends of one NOTIFY before giving up, the first included.
    pub attempts: u32,
    /// How long the first send waits for an answer; doubles every resend.
    pub timeout: Duration,
}

/// Rate limit with a trailing edge: decides when a round of NOTIFYs goes
/// out. Pure (time is passed in), so it is tested with made-up instants.
#[derive(Debug)]
pub struct Coalescer {
    interval: Duration,
    last_sent: Option<Instant>,
    pending: bool,
}

impl Coalescer {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_sent: None,
            pending: false,
        }
    }

    /// The zone changed.
    pub fn changed(&mut self) {
        self.pending = true;
    }

    /// Whether a round goes out at `now`; if so it counts as sent.
    pub fn poll(&mut self, now: Instant) -> bool {
        let due = self.pending && self.last_sent.is_none_or(|at| now >= at + self.interval);
        if due {
            self.pending = false;
            self.last_sent = Some(now);
        }
        due
    }
}

/// How a NOTIFY ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledged {
    /// The send that was answered, from 1.
    pub attempt: u32,
    /// NOERROR, or what the secondary objected (REFUSED: its ACL).
    pub rcode: ResponseCode,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no answer after {attempts} sends")]
    Unanswered { attempts: u32 },
    #[error(
        "answered {rcode} without a valid TSIG signature ({error}); check that the secondary has the same key"
    )]
    Unverified { rcode: ResponseCode, error: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode the NOTIFY: {0}")]
    Encode(#[from] hickory_proto::ProtoError),
}

/// A NOTIFY for the zone of `soa`: opcode NOTIFY, AA, the question (zone,
/// SOA) and the new SOA as a hint (RFC 1996 §3.7).
pub fn message(id: u16, soa: &Record) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Notify);
    message.metadata.authoritative = true;
    message.add_query(Query::query(soa.name.clone(), RecordType::SOA));
    message.add_answer(soa.clone());
    message
}

/// A query ID nobody can guess (RFC 5452 §9.2): from the OS's random
/// source, else from the process's random hash keys and the clock.
fn random_id() -> u16 {
    if let Ok(id) = getrandom::u32() {
        return id as u16;
    }
    use std::hash::BuildHasher;
    let seed = std::time::SystemTime::now();
    std::collections::hash_map::RandomState::new().hash_one(seed) as u16
}

/// Sends a NOTIFY for `soa`'s zone to `target` until it is answered, or
/// `attempts` sends went unanswered. Resends use the same ID, so a late
/// answer to an earlier send still counts.
pub async fn send(
    target: SocketAddr,
    soa: &Record,
    key: Option<&Key>,
    attempts: u32,
    timeout: Duration,
) -> Result<Acknowledged, NotifyError> {
    let local: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    let id = random_id();
    let mut notify = message(id, soa);
    // Signed with hickory's signer, which hands back the verifier for the
    // answer (its MAC covers our request's).
    let mut verifier = match key {
        Some(key) => notify.finalize(key.signer(), super::tsig::now())?,
        None => None,
    };
    let bytes = notify.to_vec()?;
    let mut unverified: Option<NotifyError> = None;
    let mut wait = timeout;
    let mut buffer = vec![0u8; 4096];
    for attempt in 1..=attempts {
        socket.send_to(&bytes, target).await?;
        let deadline = Instant::now() + wait;
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await;
            let Ok(received) = received else {
                break; // this send timed out
            };
            let (len, from) = received?;
            if from != target {
                continue;
            }
            let Ok(reply) = Message::from_vec(&buffer[..len]) else {
                continue;
            };
            let m = &reply.metadata;
            if m.id == id && m.message_type == MessageType::Response && m.op_code == OpCode::Notify
            {
                if let Some(verifier) = &mut verifier
                    && let Err(error) = verifier.verify(&buffer[..len])
                {
                    // Maybe forged: keep waiting for the real answer, and
                    // say what we saw if none comes.
                    unverified = Some(NotifyError::Unverified {
                        rcode: m.response_code,
                        error: error.to_string(),
                    });
                    continue;
                }
                return Ok(Acknowledged {
                    attempt,
                    rcode: m.response_code,
                });
            }
        }
        wait = wait.saturating_mul(2);
    }
    Err(unverified.unwrap_or(NotifyError::Unanswered { attempts }))
}

fn serial_of(soa: &Record) -> u32 {
    match &soa.data {
        RData::SOA(soa) => soa.serial,
        _ => 0,
    }
}

/// Feeds the journal (while any transfer is allowed) and notifies
/// secondaries of every change, until `shutdown`.
pub async fn watch(transfer: Arc<Transfer>, settings: NotifySettings, shutdown: CancellationToken) {
    let mut seen: Option<u32> = None;
    let mut coalescer = Coalescer::new(settings.interval);
    let mut sending: JoinSet<()> = JoinSet::new();
    // The NOTIFY in flight per (secondary, zone): a new round replaces it.
    let mut in_flight: HashMap<(SocketAddr, Name), AbortHandle> = HashMap::new();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => break,
        }
        while sending.try_join_next().is_some() {}
        let snap = transfer.snapshots().load_full();
        let auth = transfer.auth();
        if snap.synced && seen != Some(snap.serial) {
            seen = Some(snap.serial);
            // Only a secondary's IXFR reads the journal.
            if auth.allows_anyone() {
                transfer.journal().record(snap.clone());
            }
            coalescer.changed();
        }
        // Polled every tick, changed or not: a change held back by the
        // interval goes out when it ends, with the newest serial.
        let targets: &[NotifyTarget] = auth.notify();
        if targets.is_empty() || !snap.synced || !coalescer.poll(Instant::now()) {
            continue;
        }
        for target in targets {
            for apex in snap.apexes() {
                let Some(soa) = apex.soa.records.first().cloned() else {
                    continue;
                };
                let (attempts, timeout) = (settings.attempts, settings.timeout);
                let (target, key) = (target.address, target.key.clone());
                let zone = apex.origin.clone();
                let handle = sending.spawn(async move {
                    let serial = serial_of(&soa);
                    match send(target, &soa, key.as_deref(), attempts, timeout).await {
                        Ok(Acknowledged { attempt, rcode: ResponseCode::NoError }) => {
                            tracing::info!(%target, zone = %soa.name, serial, attempt,
                                "NOTIFY acknowledged");
                        }
                        Ok(Acknowledged { attempt, rcode }) => {
                            tracing::warn!(%target, zone = %soa.name, serial, attempt, %rcode,
                                "NOTIFY answered with an error: allow NOTIFY from this server in the secondary's ACL");
                        }
                        Err(error) => {
                            tracing::warn!(%target, zone = %soa.name, serial, %error,
                                "NOTIFY failed; the secondary will notice the change at its next SOA refresh");
                        }
                    }
                });
                if let Some(older) = in_flight.insert((target, zone), handle) {
                    older.abort();
                }
            }
        }
    }
    sending.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::SOA;

    fn soa(serial: u32) -> Record {
        let name = |n: &str| Name::from_ascii(n).unwrap();
        Record::from_rdata(
            name("cluster.local."),
            5,
            RData::SOA(SOA::new(
                name("ns.dns.cluster.local."),
                name("hostmaster.cluster.local."),
                serial,
                7200,
                1800,
                86400,
                5,
            )),
        )
    }

    async fn receive(socket: &UdpSocket) -> (Message, SocketAddr) {
        let mut buffer = [0u8; 1024];
        let (len, from) =
            tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
                .await
                .expect("no NOTIFY within 5 s")
                .unwrap();
        (Message::from_vec(&buffer[..len]).unwrap(), from)
    }

    fn reply(to: &Message, id: u16, message_type: MessageType, op_code: OpCode) -> Vec<u8> {
        let mut reply = Message::new(id, message_type, op_code);
        reply.add_queries(to.queries.iter().cloned());
        reply.to_vec().unwrap()
    }

    #[tokio::test]
    async fn send_resends_until_the_matching_answer() {
        let secondary = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = secondary.local_addr().unwrap();
        let sender = tokio::spawn(async move {
            send(target, &soa(42), None, 4, Duration::from_millis(100)).await
        });
        let (first, _) = receive(&secondary).await;
        assert_eq!(first.metadata.op_code, OpCode::Notify);
        assert!(first.metadata.authoritative);
        assert_eq!(first.queries[0].name(), &soa(42).name);
        assert_eq!(first.queries[0].query_type(), RecordType::SOA);
        assert_eq!(first.answers, vec![soa(42)]);
        let (second, from) = receive(&secondary).await;
        assert_eq!(
            second.metadata.id, first.metadata.id,
            "a resend keeps its ID"
        );
        // Not acknowledgements: another ID, a query, a QUERY response.
        let id = second.metadata.id;
        for bytes in [
            reply(
                &second,
                id.wrapping_add(1),
                MessageType::Response,
                OpCode::Notify,
            ),
            reply(&second, id, MessageType::Query, OpCode::Notify),
            reply(&second, id, MessageType::Response, OpCode::Query),
        ] {
            secondary.send_to(&bytes, from).await.unwrap();
        }
        secondary
            .send_to(
                &reply(&second, id, MessageType::Response, OpCode::Notify),
                from,
            )
            .await
            .unwrap();
        let acknowledged = sender.await.unwrap().unwrap();
        assert_eq!(
            acknowledged,
            Acknowledged {
                attempt: 2,
                rcode: ResponseCode::NoError
            }
        );
    }

    #[tokio::test]
    async fn send_gives_up_after_its_attempts() {
        let secondary = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = secondary.local_addr().unwrap();
        let result = send(target, &soa(1), None, 3, Duration::from_millis(10)).await;
        assert!(
            matches!(result, Err(NotifyError::Unanswered { attempts: 3 })),
            "{result:?}"
        );
        let mut count = 0;
        let mut buffer = [0u8; 1024];
        while secondary.try_recv_from(&mut buffer).is_ok() {
            count += 1;
        }
        assert_eq!(count, 3, "one send and two resends");
    }

    #[test]
    fn coalescer_sends_at_once_then_once_per_interval() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut c = Coalescer::new(Duration::from_millis(1000));
        assert!(!c.poll(ms(0)), "nothing changed yet");
        c.changed();
        assert!(c.poll(ms(0)), "the first change goes out at once");
        assert!(!c.poll(ms(1)), "and only once");
        // Three changes inside the interval: one round, at its end.
        c.changed();
        assert!(!c.poll(ms(100)));
        c.changed();
        c.changed();
        assert!(!c.poll(ms(999)));
        assert!(c.poll(ms(1000)));
        assert!(!c.poll(ms(1001)));
        // A change after a quiet interval goes out at once again.
        c.changed();
        assert!(c.poll(ms(5000)));
    }
}
