//! Where the dev services (`ops/dev/services.sh up`) listen; the
//! environment (`eval "$(ops/dev/services.sh env)"`) may move them.

/// The shared Kafka-protocol broker (tansu).
pub fn brokers() -> String {
    std::env::var("INVIGIL_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into())
}

/// The S3 (and STS) API (moto).
pub fn s3_endpoint() -> String {
    std::env::var("INVIGIL_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:15000".into())
}

/// A free loopback port (free when asked; a test binds it soon after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port").local_addr().expect("bound").port()
}
