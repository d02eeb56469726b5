//! A ClickHouse server over HTTP, through the `clickhouse` crate.
//!
//! Modern servers (≥ 23.8) get the DDL as written. [`Dialect::Legacy`] targets
//! ClickHouse 18.16 (the only server Debian packages): the client's schema
//! validation is turned off (18.16 lacks the metadata it reads) and the twin
//! tables of [`invigil_schemas::migrations`] are used. Set `CLICKHOUSE_URL` to
//! point tests at a modern server instead.
//!
//! An `https://` URL is reached over TLS (rustls) trusting the system's CA
//! roots plus, when set, the PEM bundle in `CLICKHOUSE_CA_FILE` (a private
//! CA, or ClickHouse Cloud's). Credentials come from `CLICKHOUSE_USER` and
//! `CLICKHOUSE_PASSWORD` or `CLICKHOUSE_PASSWORD_FILE` (a mounted secret).
//! A certificate the roots do not vouch for is [`StoreError::Unavailable`]
//! naming `CLICKHOUSE_CA_FILE`, not a transport error retried for ever.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clickhouse::Client;
use invigil_schemas::migrations::Dialect;

use super::chdb::abbreviate;
use super::{SqlStore, StoreError};

/// Connection settings for [`HttpStore`].
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `http://127.0.0.1:8123`
    pub url: String,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dialect: Dialect,
    /// The ClickHouse cluster the database lives on (`remote_servers`
    /// name), if any. Then the schema is the cluster's (applied by
    /// `invigil migrate --cluster`, only checked here) and inserts into the
    /// Distributed tables return only once the shards that own the rows have
    /// them (`insert_distributed_sync`), so offsets are committed after the
    /// rows are stored, not merely queued on the node that took them.
    pub cluster: Option<String>,
    /// PEM CA bundle trusted for `https://` besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// A file holding the password (instead of `password`).
    pub password_file: Option<PathBuf>,
}

impl HttpConfig {
    /// A server at `url`, credentials from `CLICKHOUSE_USER` and
    /// `CLICKHOUSE_PASSWORD` or `CLICKHOUSE_PASSWORD_FILE`, a private CA from
    /// `CLICKHOUSE_CA_FILE` (never from flags, so secrets stay out of `ps`);
    /// `legacy` selects the ClickHouse 18.16 twin tables.
    pub fn from_env_credentials(url: &str, database: &str, legacy: bool) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            url: url.to_owned(),
            database: database.to_owned(),
            user: var("CLICKHOUSE_USER"),
            password: var("CLICKHOUSE_PASSWORD"),
            dialect: if legacy { Dialect::Legacy } else { Dialect::Modern },
            cluster: None,
            ca_file: var("CLICKHOUSE_CA_FILE").map(PathBuf::from),
            password_file: var("CLICKHOUSE_PASSWORD_FILE").map(PathBuf::from),
        }
    }

    /// Plaintext `url` with no credentials (tests, one machine).
    pub fn plain(url: &str, database: &str, dialect: Dialect) -> Self {
        Self {
            url: url.to_owned(),
            database: database.to_owned(),
            user: None,
            password: None,
            dialect,
            cluster: None,
            ca_file: None,
            password_file: None,
        }
    }
}

/// A ClickHouse server reached over HTTP.
#[derive(Clone)]
pub struct HttpStore {
    client: Client,
    dialect: Dialect,
    database: String,
    cluster: Option<String>,
}

impl HttpStore {
    /// A client for `config`; fails (naming the variable) when the password
    /// file or CA bundle cannot be read, or a CA is given for plain HTTP.
    pub fn new(config: &HttpConfig) -> Result<Self, StoreError> {
        let tls = config.url.starts_with("https://");
        let mut client = match (tls, &config.ca_file) {
            (true, ca_file) => https_client(ca_file.as_deref())?,
            (false, Some(_)) => {
                return Err(StoreError::Unavailable(format!(
                    "CLICKHOUSE_CA_FILE is set but {} is not an https:// URL",
                    redact_url(&config.url)
                )))
            }
            (false, None) => Client::default(),
        }
        .with_url(&config.url)
        .with_database(&config.database);
        if let Some(user) = &config.user {
            client = client.with_user(user);
        }
        let password = match &config.password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| StoreError::Unavailable(format!("CLICKHOUSE_PASSWORD_FILE {}: {e}", path.display())))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
            None => config.password.clone(),
        };
        if let Some(password) = &password {
            client = client.with_password(password);
        }
        if config.dialect == Dialect::Legacy {
            client = client.with_validation(false).with_compression(clickhouse::Compression::None);
        }
        if config.cluster.is_some() {
            client = client.with_setting("insert_distributed_sync", "1");
        }
        Ok(Self { client, dialect: config.dialect, database: config.database.clone(), cluster: config.cluster.clone() })
    }

    /// The cluster and database this store writes to, when it is a cluster's.
    pub fn cluster_target(&self) -> Option<invigil_schemas::migrations::ClusterTarget<'_>> {
        self.cluster
            .as_deref()
            .map(|cluster| invigil_schemas::migrations::ClusterTarget { cluster, database: &self.database })
    }

    /// The underlying client, for typed reads.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Inserts RowBinary `rows` into `target` (a table and its column list)
    /// in one request.
    pub async fn insert_rowbinary(&self, target: &str, rows: &[u8]) -> Result<(), StoreError> {
        let statement = format!("INSERT INTO {target} FORMAT RowBinary");
        let mut insert = self.client.insert_formatted_with(statement.as_str());
        insert.send(bytes::Bytes::copy_from_slice(rows)).await.map_err(|e| classify(&statement, e))?;
        insert.end().await.map_err(|e| classify(&statement, e))
    }
}

/// An HTTP/1 client over rustls trusting the system roots and `ca_file`.
fn https_client(ca_file: Option<&Path>) -> Result<Client, StoreError> {
    let tls = tls_config(ca_file)?;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_keepalive(Some(std::time::Duration::from_secs(60)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    // ClickHouse closes idle connections after 3 s; drop ours sooner.
    Ok(Client::with_http_client(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build(connector),
    ))
}

/// A rustls client configuration (aws-lc-rs) trusting the system roots and
/// `ca_file`: the store's, and the webhooks' with no file.
pub(crate) fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system roots are not fatal when a CA file is given.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let unreadable =
            |e: &dyn std::fmt::Display| StoreError::Unavailable(format!("CLICKHOUSE_CA_FILE {}: {e}", path.display()));
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| unreadable(&e))?
            .collect::<Result<_, _>>()
            .map_err(|e| unreadable(&e))?;
        if certificates.is_empty() {
            return Err(unreadable(&"no certificate in the file"));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|e| unreadable(&e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Unavailable(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// `url` without a `user:password@` part, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}<credentials>{}", &url[..scheme + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

/// An error and its sources, joined: hyper's top error only says "client
/// error (Connect)"; the certificate problem is further down.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sorts a client error into retryable transport trouble, a TLS trust
/// failure (retrying cannot help) or a rejected statement.
pub(crate) fn classify(sql: &str, error: clickhouse::error::Error) -> StoreError {
    match error {
        clickhouse::error::Error::BadResponse(message) => StoreError::Query { sql: abbreviate(sql), message },
        clickhouse::error::Error::Network(e) => {
            let text = error_chain(e.as_ref());
            if text.contains("invalid peer certificate") || text.contains("certificate") && text.contains("Unknown") {
                StoreError::Unavailable(format!(
                    "TLS: the server's certificate is not signed by a CA in CLICKHOUSE_CA_FILE or the system roots ({text})"
                ))
            } else {
                StoreError::Transport(text)
            }
        }
        clickhouse::error::Error::TimedOut => StoreError::Transport("timed out".into()),
        other => StoreError::Query { sql: abbreviate(sql), message: other.to_string() },
    }
}

impl SqlStore for HttpStore {
    fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn execute(&self, sql: &str) -> Result<(), StoreError> {
        self.client.query(sql).execute().await.map_err(|e| classify(sql, e))
    }

    async fn query_text(&self, sql: &str, format: &str) -> Result<String, StoreError> {
        let mut cursor = self.client.query(sql).fetch_bytes(format).map_err(|e| classify(sql, e))?;
        let bytes = cursor.collect().await.map_err(|e| classify(sql, e))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| StoreError::Query { sql: abbreviate(sql), message: e.to_string() })
    }
}
