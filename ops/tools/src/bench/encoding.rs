//! Which encoding for the Kafka record? Measures bytes per record and encode /
//! decode time for a typical batch (the first N events of the golden mixed
//! batch: every common kind, realistic strings).

use std::hint::black_box;
use std::time::Instant;

use invigil_schemas::batch::EventBatch;
use invigil_schemas::record::{self, KafkaRecord};

use super::median;

#[derive(clap::Args)]
pub struct Args {
    /// Events per batch.
    #[arg(long, default_value_t = 10)]
    events: usize,
    /// Measurement rounds; the median is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Encode/decode operations per round.
    #[arg(long, default_value_t = 20_000)]
    iterations: usize,
}

struct Format {
    name: &'static str,
    encode: fn(&KafkaRecord) -> Vec<u8>,
    decode: fn(&[u8]) -> KafkaRecord,
}

const FORMATS: [Format; 3] = [
    Format {
        name: "JSON",
        encode: |r| serde_json::to_vec(r).expect("json"),
        decode: |b| serde_json::from_slice(b).expect("json"),
    },
    Format {
        name: "MessagePack",
        encode: |r| rmp_serde::to_vec(r).expect("msgpack"),
        decode: |b| rmp_serde::from_slice(b).expect("msgpack"),
    },
    Format { name: "postcard (v1)", encode: record::encode, decode: |b| record::decode(b).expect("postcard") },
];

fn sample_record(events: usize) -> anyhow::Result<KafkaRecord> {
    let mut batch: EventBatch =
        serde_json::from_str(include_str!("../../../../schemas/fixtures/valid/mixed_batch.json"))?;
    anyhow::ensure!(events >= 1 && events <= batch.events.len(), "--events must be 1..={}", batch.events.len());
    batch.events.truncate(events);
    Ok(KafkaRecord {
        received_at: 1_763_800_030_000,
        test_id: "exam-2026-final".to_owned().try_into()?,
        candidate_id: "candidate-000123".to_owned().try_into()?,
        ingest_node: "ingest-7f9c-2".into(),
        client_ip_hash: 0x9e37_79b9_7f4a_7c15,
        client_net_hash: 0x9e37_79b9_7f4a_7c15,
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36"
            .into(),
        batch,
    })
}

/// Nanoseconds per call of `op`, median over `rounds`.
fn time_per_op(rounds: usize, iterations: usize, mut op: impl FnMut()) -> f64 {
    median(
        (0..rounds)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..iterations {
                    op();
                }
                start.elapsed().as_nanos() as f64 / iterations as f64
            })
            .collect(),
    )
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let record = sample_record(args.events)?;
    println!(
        "Kafka record encodings: {} events per batch, median of {} rounds × {} ops",
        args.events, args.rounds, args.iterations
    );
    println!("{:<15} {:>7} {:>8} {:>12} {:>12}", "format", "bytes", "vs JSON", "encode µs", "decode µs");
    let mut json_bytes = None;
    for format in &FORMATS {
        let bytes = (format.encode)(&record);
        anyhow::ensure!((format.decode)(&bytes) == record, "{} does not round-trip", format.name);
        let json_len = *json_bytes.get_or_insert(bytes.len());
        let encode_ns = time_per_op(args.rounds, args.iterations, || {
            black_box((format.encode)(black_box(&record)));
        });
        let decode_ns = time_per_op(args.rounds, args.iterations, || {
            black_box((format.decode)(black_box(&bytes)));
        });
        println!(
            "{:<15} {:>7} {:>7.2}× {:>12.2} {:>12.2}",
            format.name,
            bytes.len(),
            json_len as f64 / bytes.len() as f64,
            encode_ns / 1000.0,
            decode_ns / 1000.0
        );
    }
    validation(&record, &args)
}

/// The request body of the same batch through ingest's validator: the
/// one-pass path a valid batch takes against the full validator (JSON tree,
/// field by field) that every invalid batch takes.
fn validation(record: &KafkaRecord, args: &Args) -> anyhow::Result<()> {
    use invigil_schemas::validate::{parse_batch, parse_batch_thoroughly, Limits};
    let body = serde_json::to_vec(&record.batch)?;
    let limits = Limits::default();
    anyhow::ensure!(parse_batch(&body, &limits).as_ref() == Ok(&record.batch), "the sample batch is not valid");
    let one_pass = time_per_op(args.rounds, args.iterations, || {
        black_box(parse_batch(black_box(&body), &limits)).ok();
    });
    let thorough = time_per_op(args.rounds, args.iterations, || {
        black_box(parse_batch_thoroughly(black_box(&body), &limits)).ok();
    });
    println!(
        "\nrequest validation of the same batch ({} B of JSON): one pass {:.2} µs, full validator {:.2} µs ({:.2}× faster)",
        body.len(),
        one_pass / 1000.0,
        thorough / 1000.0,
        thorough / one_pass
    );
    Ok(())
}
