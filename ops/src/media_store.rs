//! The embedded media store of `invigil up`: an S3 API on local disk
//! (`s3s` for the protocol and SigV4, `s3s-fs` for the files) on its own
//! loopback port, so the SDK uploads exactly as it would to AWS — signed
//! PUTs from the browser, CORS and all — and the dashboards read through
//! presigned GETs.
//!
//! Credentials are stateless, as STS's are: a candidate's access key id
//! carries its scope (bucket, prefix, expiry) and its secret is an HMAC of
//! that id under the store's key, so nobody can widen a scope without
//! breaking the signature, and keys survive a restart with nothing stored.
//! [`Grants`] mints them (ingest's `/api/v1/credentials` through
//! [`MintUploadKeys`]) and [`Rules`] enforces them: a candidate key may only
//! `PutObject` under its prefix until it expires; the staff key (presigned
//! GETs of the dashboards) may read and write anything.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{KeyInit, Mac};
use invigil_ingest::credentials::{MintUploadKeys, UploadKeys};
use invigil_schemas::media_key;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};

/// HMAC-SHA256 of `message` under `key` (any length).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The store's 32-byte key from a secret of any length (`invigil up` keeps
/// one in DATA_DIR/secrets/media).
pub fn store_key(secret: &str) -> [u8; 32] {
    hmac_sha256(secret.as_bytes(), b"invigil media store")
}

/// Access key ids of candidate keys start with this; the rest is the scope.
const CANDIDATE_KEY: &str = "IVGC";
/// The one staff key id.
pub const STAFF_KEY: &str = "IVGSTAFF";
/// The largest object a candidate may PUT: a 30-s screenshot or audio chunk
/// is well under 1 MB; this leaves room and still stops a disk-filling PUT.
pub const MAX_OBJECT_BYTES: u64 = 16 << 20;
/// What a POST form's fields (policy, signature, key, …) may add to its body.
const FORM_FIELDS_BYTES: u64 = 64 << 10;

/// What a candidate key allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub bucket: String,
    pub prefix: String,
    pub expires_ms: i64,
}

/// Mints and recognises the store's keys.
pub struct Grants {
    key: [u8; 32],
}

impl Grants {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The secret that goes with `access_key_id`.
    fn secret(&self, access_key_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac_sha256(&self.key, access_key_id.as_bytes()))
    }

    /// The staff key id and secret.
    pub fn staff(&self) -> (String, String) {
        (STAFF_KEY.to_owned(), self.secret(STAFF_KEY))
    }

    /// A candidate key id for `scope`: base64url keeps it free of the `/`
    /// that separates a SigV4 credential's fields.
    pub fn candidate_key_id(scope: &Scope) -> String {
        let body = format!("{}\n{}\n{}", scope.expires_ms, scope.bucket, scope.prefix);
        format!("{CANDIDATE_KEY}{}", URL_SAFE_NO_PAD.encode(body))
    }

    /// The scope a candidate key id carries, if it is one.
    pub fn scope_of(access_key_id: &str) -> Option<Scope> {
        let body = URL_SAFE_NO_PAD.decode(access_key_id.strip_prefix(CANDIDATE_KEY)?).ok()?;
        let body = String::from_utf8(body).ok()?;
        let mut parts = body.splitn(3, '\n');
        let expires_ms = parts.next()?.parse().ok()?;
        let bucket = parts.next()?.to_owned();
        let prefix = parts.next()?.to_owned();
        (!bucket.is_empty() && !prefix.is_empty()).then_some(Scope { bucket, prefix, expires_ms })
    }
}

impl MintUploadKeys for Grants {
    fn mint(&self, bucket: &str, prefix: &str, expires_ms: i64) -> UploadKeys {
        let access_key_id =
            Self::candidate_key_id(&Scope { bucket: bucket.to_owned(), prefix: prefix.to_owned(), expires_ms });
        UploadKeys {
            secret_access_key: self.secret(&access_key_id),
            // The store does not need one; the SDK signs whatever it gets.
            session_token: "invigil-embedded".into(),
            access_key_id,
        }
    }
}

/// SigV4 verification: the secret of any key id we could have minted.
struct Keys(Arc<Grants>);

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == STAFF_KEY || Grants::scope_of(access_key).is_some() {
            Ok(SecretKey::from(self.0.secret(access_key)))
        } else {
            Err(s3_error!(InvalidAccessKeyId))
        }
    }
}

/// Authorisation after the signature checked out.
struct Rules;

/// Why a key that is not canonical is refused (see [`media_key::check`]).
const NOT_CANONICAL: &str = "object keys must be canonical: no empty, \".\" or \"..\" segments, no percent escapes";

/// A request as far as authorisation cares.
struct Request<'a> {
    operation: &'a str,
    path: &'a S3Path,
    /// `Content-Length`: hyper reads no further, and an aws-chunked body's
    /// wire length bounds the object it decodes to.
    body_bytes: Option<u64>,
}

impl<'a> Request<'a> {
    fn of(cx: &'a S3AccessContext<'_>) -> Self {
        let length = cx.headers().get(http::header::CONTENT_LENGTH);
        Self {
            operation: cx.s3_op().name(),
            path: cx.s3_path(),
            body_bytes: length.and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()),
        }
    }
}

/// Whether a verified key may make `request` at `now_ms`.
fn allowed(access_key: &str, request: &Request<'_>, now_ms: i64) -> Result<(), &'static str> {
    // Before any prefix comparison, and for every caller: the files live on
    // a file system, where `a/../b` is `b`.
    if let S3Path::Object { key, .. } = request.path {
        media_key::check(key).map_err(|_| NOT_CANONICAL)?;
    }
    if access_key == STAFF_KEY {
        return Ok(());
    }
    let scope = Grants::scope_of(access_key).ok_or("unknown key")?;
    if now_ms >= scope.expires_ms {
        return Err("these upload credentials have expired; ask /api/v1/credentials for new ones");
    }
    let limit = match (request.operation, request.path) {
        ("PutObject", S3Path::Object { bucket, key })
            if **bucket == scope.bucket && media_key::is_within(key, &scope.prefix) =>
        {
            MAX_OBJECT_BYTES
        }
        // A POST form names its key in the body: `post_object` checks it
        // once s3s has parsed the form (and the policy's own conditions).
        ("PostObject", S3Path::Bucket { bucket }) if **bucket == scope.bucket => MAX_OBJECT_BYTES + FORM_FIELDS_BYTES,
        ("PutObject" | "PostObject", _) => {
            return Err("upload credentials only allow keys under the candidate's own prefix")
        }
        _ => return Err("upload credentials only allow PutObject and POST uploads"),
    };
    match request.body_bytes {
        Some(bytes) if bytes <= limit => Ok(()),
        Some(_) => Err("the object is larger than an upload may be (16 MiB)"),
        None => Err("an upload must say its length (Content-Length)"),
    }
}

#[async_trait::async_trait]
impl S3Access for Rules {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "this store needs signed requests"));
        };
        let access_key = credentials.access_key.clone();
        allowed(&access_key, &Request::of(cx), crate::now_ms()).map_err(|why| s3_error!(AccessDenied, "{why}"))
    }

    /// A candidate's POST form must name a key under their prefix, whatever
    /// policy they managed to sign.
    async fn post_object(&self, req: &mut s3s::S3Request<s3s::dto::PostObjectInput>) -> S3Result<()> {
        let Some(credentials) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "this store needs signed requests"));
        };
        if media_key::check(&req.input.key).is_err() {
            return Err(s3_error!(AccessDenied, "{NOT_CANONICAL}"));
        }
        if credentials.access_key == STAFF_KEY {
            return Ok(());
        }
        match Grants::scope_of(&credentials.access_key) {
            Some(scope) if req.input.bucket == scope.bucket && media_key::is_within(&req.input.key, &scope.prefix) => {
                Ok(())
            }
            _ => Err(s3_error!(AccessDenied, "upload credentials only allow keys under the candidate's own prefix")),
        }
    }
}

/// A running store.
pub struct MediaStore {
    /// `http://127.0.0.1:PORT`: what browsers and the dashboards' signer use.
    pub endpoint: String,
    pub grants: Arc<Grants>,
    server: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl MediaStore {
    /// Serves `root` (one directory per bucket; `bucket`'s is created) on
    /// `listen`, with keys from `key`.
    pub async fn start(root: &Path, bucket: &str, listen: SocketAddr, key: [u8; 32]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root.join(bucket)).with_context(|| format!("creating {}", root.display()))?;
        let files = s3s_fs::FileSystem::new(root).map_err(|e| anyhow::anyhow!("opening {}: {e:?}", root.display()))?;
        let grants = Arc::new(Grants::new(key));
        let mut builder = s3s::service::S3ServiceBuilder::new(files);
        builder.set_auth(Keys(Arc::clone(&grants)));
        builder.set_access(Rules);
        // s3s reads a POST form's file into memory before any check: never
        // more than an object may be.
        let mut config = s3s::config::S3Config::default();
        config.post_object_max_file_size = MAX_OBJECT_BYTES;
        builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(config))));
        let s3 = builder.build();

        // Browsers PUT from the host app's origin and the dashboards GET from
        // ingest's. Any origin may ask (signatures, not origins, guard the
        // data); preflights are answered with the headers they ask for, as a
        // wildcard never covers `Authorization`.
        let cors = tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::Any)
            .allow_methods([http::Method::GET, http::Method::PUT, http::Method::POST, http::Method::HEAD])
            .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
            .expose_headers([http::header::ETAG])
            .max_age(std::time::Duration::from_secs(3600));
        let service = axum::error_handling::HandleError::new(s3, |error: s3s::HttpError| async move {
            tracing::warn!(?error, "media store request failed");
            http::StatusCode::INTERNAL_SERVER_ERROR
        });
        let router = axum::Router::new().fallback_service(service).layer(cors);

        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the media store to {listen}"))?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                tracing::error!(%error, "the media store stopped");
            }
        });
        Ok(Self { endpoint, grants, server, stop })
    }

    /// The staff key as an AWS credentials provider (the dashboards' signer).
    pub fn staff_credentials(&self) -> aws_credential_types::provider::SharedCredentialsProvider {
        let (id, secret) = self.grants.staff();
        aws_credential_types::provider::SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
            id,
            secret,
            None,
            None,
            "invigil-media-store",
        ))
    }

    /// Stops serving once in-flight requests end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.server).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(prefix: &str, expires_ms: i64) -> Scope {
        Scope { bucket: "media".into(), prefix: prefix.into(), expires_ms }
    }

    fn object(bucket: &str, key: &str) -> S3Path {
        S3Path::Object { bucket: bucket.into(), key: key.into() }
    }

    #[test]
    fn a_key_id_carries_its_scope_and_nothing_else_parses() {
        let original = scope("2026-11-30/exam-1/cand:7/", 1_800_000_000_000);
        let id = Grants::candidate_key_id(&original);
        assert!(!id.contains('/'), "{id}");
        assert_eq!(Grants::scope_of(&id), Some(original));
        assert_eq!(Grants::scope_of(STAFF_KEY), None);
        assert_eq!(Grants::scope_of("IVGCnot base64!"), None);
        assert_eq!(Grants::scope_of("AKIAIOSFODNN7EXAMPLE"), None);
    }

    #[test]
    fn secrets_depend_on_the_store_key_and_the_whole_id() {
        let (a, b) = (Grants::new([1; 32]), Grants::new([2; 32]));
        let keys = a.mint("media", "2026-11-30/exam-1/c1/", 5);
        assert_ne!(keys.secret_access_key, b.mint("media", "2026-11-30/exam-1/c1/", 5).secret_access_key);
        // Widening the prefix or the expiry makes another id, whose secret
        // the holder of `keys` cannot know.
        let wider = Grants::candidate_key_id(&scope("2026-11-30/exam-1/", 5));
        assert_ne!(a.secret(&wider), keys.secret_access_key);
        assert_eq!(a.secret(&keys.access_key_id), keys.secret_access_key);
    }

    fn put(path: &S3Path, bytes: u64) -> Request<'_> {
        Request { operation: "PutObject", path, body_bytes: Some(bytes) }
    }

    #[test]
    fn candidate_keys_put_under_their_prefix_until_they_expire() {
        let id = Grants::candidate_key_id(&scope("2026-11-30/exam-1/c1/", 1_000));
        let own = object("media", "2026-11-30/exam-1/c1/camera/1.jpg");
        assert_eq!(allowed(&id, &put(&own, 40_000), 999), Ok(()));
        for (operation, path) in [
            ("PutObject", object("media", "2026-11-30/exam-1/c10/camera/1.jpg")),
            ("PutObject", object("media", "2026-11-30/exam-1/c2/camera/1.jpg")),
            ("PutObject", object("other", "2026-11-30/exam-1/c1/camera/1.jpg")),
            ("GetObject", object("media", "2026-11-30/exam-1/c1/camera/1.jpg")),
            ("DeleteObject", object("media", "2026-11-30/exam-1/c1/camera/1.jpg")),
            ("ListObjectsV2", S3Path::Bucket { bucket: "media".into() }),
        ] {
            let request = Request { operation, path: &path, body_bytes: Some(10) };
            assert!(allowed(&id, &request, 999).is_err(), "{operation} {path:?}");
        }
        assert!(allowed(&id, &put(&own, 10), 1_000).is_err(), "expired");
        assert!(allowed(&id, &put(&own, MAX_OBJECT_BYTES + 1), 999).is_err(), "too large");
        assert!(allowed(&id, &Request { operation: "PutObject", path: &own, body_bytes: None }, 999).is_err());
        let anything = object("media", "any/key");
        assert_eq!(
            allowed(STAFF_KEY, &Request { operation: "GetObject", path: &anything, body_bytes: None }, 0),
            Ok(())
        );
    }

    #[test]
    fn keys_that_are_not_canonical_are_refused_for_every_caller() {
        let id = Grants::candidate_key_id(&scope("2026-11-30/exam-1/cand-A/", 1_000));
        for key in [
            "2026-11-30/exam-1/cand-A/../cand-B/camera/x.jpg",
            "2026-11-30/exam-1/cand-A/camera/../../cand-B/camera/x.jpg",
            "2026-11-30/exam-1/cand-A/./camera/x.jpg",
            "2026-11-30/exam-1/cand-A//camera/x.jpg",
            "2026-11-30/exam-1/cand-A/%2e%2e/cand-B/camera/x.jpg",
            "2026-11-30/exam-1/cand-A/%2E%2E/cand-B/camera/x.jpg",
        ] {
            let path = object("media", key);
            assert_eq!(allowed(&id, &put(&path, 10), 999), Err(NOT_CANONICAL), "{key}");
            let read = Request { operation: "GetObject", path: &path, body_bytes: None };
            assert_eq!(allowed(STAFF_KEY, &read, 0), Err(NOT_CANONICAL), "staff: {key}");
        }
    }

    /// The real store on a free port: SigV4 PUTs and presigned GETs as the
    /// SDK and the dashboards make them, through the AWS SDK's own signer.
    mod served {
        use super::super::*;
        use aws_sdk_s3::config::{Credentials, Region};
        use aws_sdk_s3::primitives::ByteStream;
        use std::time::Duration;

        fn client(endpoint: &str, id: &str, secret: &str) -> aws_sdk_s3::Client {
            let config = aws_sdk_s3::Config::builder()
                .behavior_version_latest()
                .region(Region::new("us-east-1"))
                .endpoint_url(endpoint)
                .force_path_style(true)
                .credentials_provider(Credentials::new(id, secret, Some("invigil-embedded".into()), None, "test"))
                .build();
            aws_sdk_s3::Client::from_conf(config)
        }

        async fn put(client: &aws_sdk_s3::Client, key: &str, bytes: Vec<u8>) -> Result<(), String> {
            let sent =
                client.put_object().bucket("media").key(key).content_type("image/jpeg").body(ByteStream::from(bytes));
            sent.send().await.map(|_| ()).map_err(|e| format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)))
        }

        #[tokio::test]
        async fn candidate_keys_put_only_their_own_objects_and_staff_links_read_them() {
            let root = tempfile::tempdir().unwrap();
            let store = MediaStore::start(root.path(), "media", "127.0.0.1:0".parse().unwrap(), [7; 32]).await.unwrap();
            let prefix = "2026-11-30/exam-1/cand-a/";
            let later = crate::now_ms() + 600_000;
            let keys = store.grants.mint("media", prefix, later);
            let candidate = client(&store.endpoint, &keys.access_key_id, &keys.secret_access_key);

            let photo = vec![0xd8; 40_000];
            put(&candidate, &format!("{prefix}camera/1.jpg"), photo.clone()).await.expect("own prefix");
            for key in ["2026-11-30/exam-1/cand-b/camera/1.jpg", "2026-11-30/exam-1/cand-a-evil/camera/1.jpg", "x.jpg"]
            {
                let refused = put(&candidate, key, vec![1; 10]).await.expect_err(key);
                assert!(refused.contains("AccessDenied"), "{key}: {refused}");
            }
            let read = candidate.get_object().bucket("media").key(format!("{prefix}camera/1.jpg")).send().await;
            assert!(read.is_err(), "upload keys cannot read");

            // A wider scope signed with the narrow key's secret.
            let wider = Grants::candidate_key_id(&Scope {
                bucket: "media".into(),
                prefix: "2026-11-30/exam-1/".into(),
                expires_ms: later,
            });
            let forged = client(&store.endpoint, &wider, &keys.secret_access_key);
            let refused = put(&forged, "2026-11-30/exam-1/cand-b/camera/1.jpg", vec![1; 10]).await.unwrap_err();
            assert!(refused.contains("SignatureDoesNotMatch"), "{refused}");

            let expired = store.grants.mint("media", prefix, crate::now_ms() - 1);
            let refused = put(
                &client(&store.endpoint, &expired.access_key_id, &expired.secret_access_key),
                &format!("{prefix}camera/2.jpg"),
                vec![1; 10],
            )
            .await
            .unwrap_err();
            assert!(refused.contains("expired"), "{refused}");

            let refused = put(&candidate, &format!("{prefix}screen/big.jpg"), vec![0; MAX_OBJECT_BYTES as usize + 1])
                .await
                .unwrap_err();
            assert!(refused.contains("larger than an upload may be"), "{refused}");

            // The dashboards' presigned GET, fetched as a browser would.
            let (id, secret) = store.grants.staff();
            let presigned = client(&store.endpoint, &id, &secret)
                .get_object()
                .bucket("media")
                .key(format!("{prefix}camera/1.jpg"))
                .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
                .await
                .unwrap();
            let http = reqwest::Client::new();
            let fetched = http.get(presigned.uri()).send().await.unwrap();
            assert_eq!(fetched.status(), 200);
            assert_eq!(fetched.bytes().await.unwrap().to_vec(), photo);
            let unsigned = http.get(format!("{}/media/{prefix}camera/1.jpg", store.endpoint)).send().await.unwrap();
            assert_eq!(unsigned.status(), 403);
            let listed = std::fs::read_dir(root.path().join("media/2026-11-30/exam-1")).unwrap().count();
            assert_eq!(listed, 1, "nothing was written outside cand-a");

            let preflight = http
                .request(reqwest::Method::OPTIONS, format!("{}/media/{prefix}camera/3.jpg", store.endpoint))
                .header("origin", "http://127.0.0.1:8082")
                .header("access-control-request-method", "PUT")
                .header("access-control-request-headers", "authorization,x-amz-date,x-amz-security-token")
                .send()
                .await
                .unwrap();
            assert!(preflight.status().is_success());
            let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap().to_owned();
            assert!(allowed.contains("authorization") && allowed.contains("x-amz-security-token"), "{allowed}");
            store.stop().await;
        }

        /// The held-out finding: cand-A's keys, a PUT to
        /// `{cand-A}/../cand-B/…`, sent as the AWS SDK sends it (the dot
        /// segments reach the server as they are).
        #[tokio::test]
        async fn dot_segments_never_reach_the_disk() {
            let root = tempfile::tempdir().unwrap();
            let store = MediaStore::start(root.path(), "media", "127.0.0.1:0".parse().unwrap(), [5; 32]).await.unwrap();
            let prefix = "2026-11-30/exam-1/cand-a/";
            let keys = store.grants.mint("media", prefix, crate::now_ms() + 600_000);
            let candidate = client(&store.endpoint, &keys.access_key_id, &keys.secret_access_key);
            for key in [
                format!("{prefix}../cand-b/camera/x.jpg"),
                format!("{prefix}camera/../../cand-b/camera/x.jpg"),
                format!("{prefix}./camera/x.jpg"),
                format!("{prefix}camera//x.jpg"),
                format!("{prefix}%2e%2e/cand-b/camera/x.jpg"),
            ] {
                let refused = put(&candidate, &key, vec![1; 10]).await.expect_err(&key);
                assert!(refused.contains("AccessDenied") && refused.contains("canonical"), "{key}: {refused}");
            }
            // The staff key (presigned GETs) may read anything, but not
            // through a dot path either.
            let (id, secret) = store.grants.staff();
            let staff = client(&store.endpoint, &id, &secret);
            put(&staff, "2026-11-30/exam-1/cand-b/camera/1.jpg", vec![2; 10]).await.unwrap();
            let climbed =
                staff.get_object().bucket("media").key(format!("{prefix}../cand-b/camera/1.jpg")).send().await;
            assert!(climbed.is_err(), "a staff read through ..");
            let written: Vec<_> = walk(&root.path().join("media"));
            assert_eq!(written, ["2026-11-30/exam-1/cand-b/camera/1.jpg"], "only the staff upload is on disk");
            store.stop().await;
        }

        /// Every file under `dir`, as `/`-joined relative paths.
        fn walk(dir: &std::path::Path) -> Vec<String> {
            let mut files = Vec::new();
            let mut pending = vec![dir.to_path_buf()];
            while let Some(next) = pending.pop() {
                for entry in std::fs::read_dir(&next).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        pending.push(path);
                    } else {
                        let relative = path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                        files.push(relative);
                    }
                }
            }
            files.sort();
            files
        }

        /// A multipart/form-data body as a browser's `FormData` sends it:
        /// the form's fields, `key`, `Content-Type`, then the file last.
        fn form_body(form: &PostForm, key: &str, content_type: &str, file: &[u8]) -> (String, Vec<u8>) {
            let boundary = "----invigil-test-boundary";
            let mut body = Vec::new();
            let fields = form.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            for (name, value) in fields.chain([("key", key), ("Content-Type", content_type)]) {
                body.extend(
                    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                        .bytes(),
                );
            }
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob\"\r\n\
                     Content-Type: {content_type}\r\n\r\n"
                )
                .bytes(),
            );
            body.extend_from_slice(file);
            body.extend(format!("\r\n--{boundary}--\r\n").bytes());
            (format!("multipart/form-data; boundary={boundary}"), body)
        }

        use invigil_ingest::post_policy::{forms, FormScope, SigningKeys};
        use invigil_schemas::api::PostForm;

        /// Posts `file` under `key` with `form` to the store at `endpoint`,
        /// as a browser would; the status and body of the answer.
        async fn post_form(
            endpoint: &str,
            form: &PostForm,
            key: &str,
            content_type: &str,
            file: Vec<u8>,
        ) -> (u16, String) {
            let (content_type_header, body) = form_body(form, key, content_type, &file);
            let request = reqwest::Client::new().post(format!("{endpoint}/media"));
            let response = request.header("content-type", content_type_header).body(body).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        }

        #[tokio::test]
        async fn post_forms_refuse_oversize_objects_other_keys_and_other_types() {
            let root = tempfile::tempdir().unwrap();
            let store = MediaStore::start(root.path(), "media", "127.0.0.1:0".parse().unwrap(), [9; 32]).await.unwrap();
            let prefix = "2026-11-30/exam-1/cand-a/";
            let now = crate::now_ms();
            let keys = store.grants.mint("media", prefix, now + 600_000);
            let signing = SigningKeys {
                access_key_id: &keys.access_key_id,
                secret_access_key: &keys.secret_access_key,
                session_token: &keys.session_token,
            };
            let scope = FormScope {
                bucket: "media",
                region: "us-east-1",
                prefix,
                max_bytes: 1_000,
                now_ms: now,
                expires_ms: now + 600_000,
            };
            let signed = forms(&signing, &scope);
            let camera = signed.iter().find(|f| f.key_prefix.ends_with("camera/")).unwrap();
            let endpoint = store.endpoint.clone();

            let key = format!("{prefix}camera/1.jpg");
            let (status, body) = post_form(&endpoint, camera, &key, "image/jpeg", vec![0xd8; 1_000]).await;
            assert!((200..300).contains(&status), "within the policy: {status} {body}");
            assert_eq!(std::fs::read(root.path().join("media").join(&key)).unwrap().len(), 1_000);

            let big = format!("{prefix}camera/big.jpg");
            let (status, body) = post_form(&endpoint, camera, &big, "image/jpeg", vec![0xd8; 1_001]).await;
            assert_eq!(status, 400, "{body}");
            assert!(body.contains("EntityTooLarge"), "{body}");
            assert!(!root.path().join("media").join(&big).exists(), "nothing of an oversize upload is kept");

            for (key, content_type, why) in [
                ("2026-11-30/exam-1/cand-b/camera/1.jpg", "image/jpeg", "another candidate's prefix"),
                (&format!("{prefix}screen/1.jpg") as &str, "image/jpeg", "another folder than the form's"),
                (&format!("{prefix}camera/2.jpg") as &str, "text/html", "another content type"),
            ] {
                let (status, body) = post_form(&endpoint, camera, key, content_type, vec![1; 10]).await;
                // s3s answers a failed condition 400 InvalidPolicyDocument
                // (AWS: 403 AccessDenied); either way nothing is stored.
                assert_eq!(status, 400, "{why}: {body}");
                assert!(body.contains("Policy condition"), "{why}: {body}");
                assert!(!root.path().join("media").join(key).exists(), "{why}");
            }

            // Session keys in the candidate's hands could sign their own
            // policy, say for a sibling's prefix: the store still says no.
            let sibling = FormScope { prefix: "2026-11-30/exam-1/cand-b/", ..scope };
            let forged = forms(&signing, &sibling);
            let key = "2026-11-30/exam-1/cand-b/camera/1.jpg";
            let (status, body) = post_form(&endpoint, &forged[0], key, "image/jpeg", vec![1; 10]).await;
            assert_eq!(status, 403, "{body}");
            assert!(!root.path().join("media/2026-11-30/exam-1/cand-b").exists());

            // The form's own `starts-with` condition holds for a key that
            // climbs out of the prefix; the store refuses it anyway.
            for key in [
                format!("{prefix}camera/../../cand-b/camera/1.jpg"),
                format!("{prefix}camera/./1.jpg"),
                format!("{prefix}camera/%2e%2e/x.jpg"),
            ] {
                let (status, body) = post_form(&endpoint, camera, &key, "image/jpeg", vec![1; 10]).await;
                assert_eq!(status, 403, "{key}: {body}");
                assert!(body.contains("canonical"), "{key}: {body}");
            }
            assert!(!root.path().join("media/2026-11-30/exam-1/cand-b").exists());

            // An expired policy.
            let stale = forms(&signing, &FormScope { now_ms: now - 120_000, expires_ms: now - 60_000, ..scope });
            let (status, _) =
                post_form(&endpoint, &stale[0], &format!("{prefix}camera/3.jpg"), "image/jpeg", vec![1; 10]).await;
            assert_eq!(status, 403);
            store.stop().await;
        }
    }
}
