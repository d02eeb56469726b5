//! Turning an accepted batch into its Kafka key and value.

use invigil_schemas::batch::EventBatch;
use invigil_schemas::claims::CandidateClaims;
use invigil_schemas::record::{self, KafkaRecord};
use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::net::IpAddr;

/// Server-side facts about one request, added to the batch before it is produced.
#[derive(Debug, Clone)]
pub struct Enrichment {
    pub received_at: i64,
    pub ingest_node: String,
    pub client_ip_hash: u64,
    pub client_net_hash: u64,
    pub user_agent: String,
}

/// Keyed hash of a client address: equal for equal addresses under one
/// secret, so reviewers can spot shared addresses, and useless without it.
pub fn hash_ip(secret: &[u8; 16], ip: IpAddr) -> u64 {
    let mut hasher = SipHasher13::new_with_key(secret);
    match ip {
        IpAddr::V4(v4) => hasher.write(&v4.octets()),
        IpAddr::V6(v6) => hasher.write(&v6.octets()),
    }
    hasher.finish()
}

/// Keyed hash of a client address's network: its IPv4 /24 or IPv6 /48 (a
/// home, a school, a mobile carrier's block), under the same secret but
/// never equal to an address's hash.
pub fn hash_network(secret: &[u8; 16], ip: IpAddr) -> u64 {
    let mut hasher = SipHasher13::new_with_key(secret);
    hasher.write(b"net");
    match ip {
        IpAddr::V4(v4) => hasher.write(&v4.octets()[..3]),
        IpAddr::V6(v6) => hasher.write(&v6.octets()[..6]),
    }
    hasher.finish()
}

/// The Kafka key and encoded value for an accepted batch. `test_id` and
/// `candidate_id` come from the verified claims only.
pub fn to_record(claims: &CandidateClaims, batch: EventBatch, enrichment: Enrichment) -> (String, Vec<u8>) {
    let key = record::record_key(&claims.test_id, &claims.sub);
    let value = record::encode(&KafkaRecord {
        received_at: enrichment.received_at,
        test_id: claims.test_id.clone(),
        candidate_id: claims.sub.clone(),
        ingest_node: enrichment.ingest_node,
        client_ip_hash: enrichment.client_ip_hash,
        client_net_hash: enrichment.client_net_hash,
        user_agent: enrichment.user_agent,
        batch,
    });
    (key, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use invigil_schemas::event::{Event, Focus, FocusState};
    use invigil_schemas::ids::{event_id_v7, Uuid};

    #[test]
    fn ip_hash_is_keyed() {
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(hash_ip(&[1; 16], ip), hash_ip(&[1; 16], ip));
        assert_ne!(hash_ip(&[1; 16], ip), hash_ip(&[2; 16], ip));
    }

    #[test]
    fn a_network_hash_groups_addresses_of_one_network_only() {
        let net = |ip: &str| hash_network(&[1; 16], ip.parse().unwrap());
        assert_eq!(net("203.0.113.7"), net("203.0.113.200"));
        assert_ne!(net("203.0.113.7"), net("203.0.114.7"));
        assert_eq!(net("2001:db8:1:aa::1"), net("2001:db8:1:bb::2"), "one /48");
        assert_ne!(net("2001:db8:1::1"), net("2001:db8:2::1"));
        assert_ne!(net("203.0.113.7"), hash_ip(&[1; 16], "203.0.113.7".parse().unwrap()));
        assert_ne!(net("203.0.113.7"), hash_network(&[2; 16], "203.0.113.7".parse().unwrap()), "keyed");
    }

    #[test]
    fn record_takes_identity_from_the_token_and_round_trips() {
        let claims = CandidateClaims {
            sub: "cand-7".to_owned().try_into().unwrap(),
            test_id: "exam-1".to_owned().try_into().unwrap(),
            exp: 2_000_000_000,
            iat: 1_700_000_000,
            name: None,
        };
        let batch = EventBatch {
            v: 1,
            session_id: Uuid::from_u128(42),
            batch_seq: 3,
            sent_at: 1_763_800_000_000,
            events: vec![Event {
                id: event_id_v7(1_763_800_000_000, [9; 10]),
                seq: 0,
                ts: 1_763_800_000_000,
                body: Focus { state: FocusState::Blur }.into(),
            }],
        };
        let enrichment = Enrichment {
            received_at: 1_763_800_000_100,
            ingest_node: "ingest-0".into(),
            client_ip_hash: 99,
            client_net_hash: 99,
            user_agent: "UA".into(),
        };
        let (key, value) = to_record(&claims, batch.clone(), enrichment);
        assert_eq!(key, "exam-1/cand-7");
        let record = record::decode(&value).unwrap();
        assert_eq!(record.batch, batch);
        assert_eq!(record.candidate_id.as_str(), "cand-7");
        assert_eq!(record.test_id.as_str(), "exam-1");
        assert_eq!(record.received_at, 1_763_800_000_100);
    }
}
