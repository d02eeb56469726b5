//! The Kafka TLS / SASL flags of the commands configured by flags
//! (`invigil pipeline`, `invigil tail`): the same settings as ingest's
//! `[kafka.tls]`, `[kafka.sasl]` and `[kafka.options]`, resolved by the same
//! code (`invigil_schemas::kafka_access`), so a mistake is named by its flag.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use invigil_schemas::kafka_access::{KafkaAccess, KafkaEndpoint, KafkaSasl, KafkaTls, Preflight, PreflightError};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct KafkaAccessArgs {
    /// TLS to the brokers with the system's CA roots (implied by the files below).
    #[arg(long = "kafka-tls")]
    tls: bool,
    /// PEM bundle of the CA that signed the brokers' certificates.
    #[arg(long = "kafka-tls-ca-file", env = "INVIGIL_KAFKA_TLS_CA_FILE", value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for brokers that authenticate clients by TLS.
    #[arg(long = "kafka-tls-cert-file", value_name = "PEM", requires = "key_file")]
    cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long = "kafka-tls-key-file", value_name = "PEM", requires = "cert_file")]
    key_file: Option<PathBuf>,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; the password from
    /// INVIGIL_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file.
    #[arg(long = "kafka-sasl-mechanism", env = "INVIGIL_KAFKA_SASL_MECHANISM", value_name = "MECHANISM")]
    mechanism: Option<String>,
    #[arg(long = "kafka-sasl-username", env = "INVIGIL_KAFKA_SASL_USERNAME", value_name = "USER")]
    username: Option<String>,
    /// A file holding the SASL password (a mounted secret).
    #[arg(long = "kafka-sasl-password-file", value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Any librdkafka property, set verbatim on every client (repeatable).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = parse_option)]
    options: Vec<(String, String)>,
}

fn parse_option(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    if key.trim().is_empty() {
        return Err(format!("{text:?} has no key"));
    }
    Ok((key.trim().to_owned(), value.to_owned()))
}

impl KafkaAccessArgs {
    fn access(&self) -> KafkaAccess {
        KafkaAccess {
            tls: KafkaTls {
                enabled: self.tls,
                ca_file: self.ca_file.clone(),
                cert_file: self.cert_file.clone(),
                key_file: self.key_file.clone(),
            },
            sasl: KafkaSasl {
                mechanism: self.mechanism.clone(),
                username: self.username.clone(),
                password_file: self.password_file.clone(),
            },
            options: self.options.iter().cloned().collect(),
        }
    }

    /// `brokers` with these settings, checked; with TLS or SASL, the brokers
    /// are asked for their metadata for up to `wait`: a refused handshake or
    /// login stops here, naming the flag, while no answer only warns.
    pub fn endpoint(&self, brokers: &str, wait: Duration) -> anyhow::Result<KafkaEndpoint> {
        let endpoint = self
            .access()
            .resolve(brokers, |name| std::env::var(name).ok())
            .map_err(|e| anyhow!("{}: {}", e.flag(), e.message))?;
        if endpoint.is_secured() {
            match endpoint.preflight(wait) {
                Ok(Preflight::Reached) => {}
                Ok(Preflight::Unreachable(reason)) => {
                    tracing::warn!(brokers, reason, "Kafka unreachable at start; TLS/SASL is checked when it answers")
                }
                Err(error) => return Err(anyhow!("{}: {}", flag_of(&error), detail(&error))),
            }
        }
        Ok(endpoint)
    }
}

fn flag_of(error: &PreflightError) -> &'static str {
    match error {
        PreflightError::Tls { .. } => "--kafka-tls-ca-file",
        PreflightError::Authentication { .. } => "--kafka-sasl-username / INVIGIL_KAFKA_SASL_PASSWORD",
        PreflightError::Config(_) => "--kafka-option",
    }
}

/// The error without its `kafka.…:` settings-file prefix.
fn detail(error: &PreflightError) -> String {
    let text = error.to_string();
    text.split_once(": ").map(|(_, rest)| rest.to_owned()).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_named_by_its_flag() {
        let args = KafkaAccessArgs { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let error = args.endpoint("127.0.0.1:9", Duration::from_millis(10)).unwrap_err().to_string();
        assert!(error.starts_with("--kafka-tls-ca-file: /nonexistent/ca.pem"), "{error}");
        assert_eq!(parse_option("a.b=c=d"), Ok(("a.b".into(), "c=d".into())));
        assert!(parse_option("novalue").is_err());
    }
}
