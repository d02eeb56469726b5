//! A lean listener for the live video signal alone (`[live_video]
//! signal_listen`), so held signals cost little memory.
//!
//! Every candidate of a test with live video holds `GET /api/v1/live/signal`
//! open for up to 25 s; at the target scale that is 50,000 held requests.
//! Through the general HTTP stack each one keeps a connection task, its
//! read and write buffers and the router's request state — about 30 KB per
//! held signal as `invigil bench live --signal` measured; here 1.1–1.5 KB.
//! A connection parses its request head from a buffer that is freed before
//! the wait, and a held request keeps no task, future or timer: the socket
//! and what the answer needs are parked on the candidate's stream in the
//! audience ([`Parked`]). A task is spawned again when the answer is due
//! (the view wanted changes, a message comes, the server stops, the hosts
//! change), and a sweep four times a second answers the holds that ran out
//! (so a hold may last up to 250 ms past its wait) and, every 2 s, lets go
//! of candidates who left. The answer is the same as the route's on the
//! main port ([`crate::live_api::signal`]), after the same checks (token,
//! rate limit, the test's live video switch), with CORS.
//!
//! A balancer sends `/api/v1/live/signal` (and, with several SFU hosts,
//! this host's `/api/v1/live/shards/{name}/signal`) here and everything else
//! to the main port; without one (one machine) the main port's route serves
//! it. A candidate another host serves gets a `307` to that host's path.
//!
//! HTTP/1.1 only, keep-alive, requests without bodies: `GET` for the signal
//! and `OPTIONS` for a browser's CORS preflight. Anything else gets a JSON
//! error and the connection closes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use invigil_schemas::api::{ErrorCode, LiveView};
use invigil_schemas::names::WireName;
use invigil_schemas::validate::ProblemCode;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::error::ApiError;
use crate::live_api::{Signal, SignalQuery, SignalStart};
use crate::live_video::shards::{path_at, SHARD_PREFIX};
use crate::state::AppState;

/// The largest request head read; a browser's signal request is ~1 KB.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// An idle keep-alive connection (no request started) is closed after this.
const IDLE: Duration = Duration::from_secs(75);
/// A started request head must arrive within this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How often parked requests are looked at for a hold that ran out.
const SWEEP_EVERY: Duration = Duration::from_millis(250);
/// Every this many sweeps, also for a candidate who left (a syscall each).
const GONE_EVERY_SWEEPS: u32 = 8;

/// A held signal request parked on its candidate's stream in the audience
/// ([`super::audience::Audience::park`]): the connection and what its
/// answer needs, and nothing else — no task, no future, no timer.
pub struct Parked {
    stream: TcpStream,
    /// What the SDK sends now.
    pub(super) sending: LiveView,
    /// The newest message it has shown.
    pub(super) seen: u64,
    /// When the hold runs out.
    pub(super) deadline: tokio::time::Instant,
    /// The audience's epoch when the request was admitted.
    pub(super) epoch: u64,
    keep_alive: bool,
    /// The request's `Origin`, for CORS.
    origin: Option<Box<str>>,
}

impl Parked {
    #[cfg(test)]
    pub(super) fn for_test(
        stream: TcpStream,
        sending: LiveView,
        seen: u64,
        deadline: tokio::time::Instant,
        epoch: u64,
    ) -> Self {
        Self { stream, sending, seen, deadline, epoch, keep_alive: true, origin: None }
    }

    #[cfg(test)]
    pub(super) fn is_gone_for_test(&self) -> bool {
        self.gone()
    }

    /// Whether the candidate closed the connection (tab closed, network
    /// gone): a request waiting behind it is not gone.
    fn gone(&self) -> bool {
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(&self.stream).peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::Interrupted,
        }
    }
}

/// Accepts connections until the task is dropped; parked requests are
/// answered by tasks spawned when their answer is due.
pub async fn serve(listener: TcpListener, state: Arc<AppState>) {
    if let Some(live) = &state.live_video {
        // Weak: the audience lives in the state this would otherwise hold.
        let (weak, runtime) = (Arc::downgrade(&state), tokio::runtime::Handle::current());
        live.audience.set_resume(Box::new(move |key, parked| {
            if let Some(state) = weak.upgrade() {
                runtime.spawn(resume(state, key, parked));
            }
        }));
        tokio::spawn(sweep(Arc::downgrade(&state)));
    }
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, Arc::clone(&state)));
            }
            Err(error) => {
                // Out of descriptors, most likely: back off rather than spin.
                tracing::warn!(%error, "signal listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What the connection keeps of a request head once it is parsed.
struct Head {
    method: Method,
    /// Path and query.
    target: String,
    authorization: Option<String>,
    origin: Option<String>,
    keep_alive: bool,
}

#[derive(PartialEq)]
enum Method {
    Get,
    Options,
    Other,
}

async fn connection(mut stream: TcpStream, state: Arc<AppState>) {
    loop {
        let head = match read_head(&mut stream).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(status) => {
                let body = error_body(ApiError::new(ErrorCode::InvalidRequest, status));
                let response = Response { status: 400, body: &body, location: None, keep_alive: false };
                let _ = write(&mut stream, response, None, &state).await;
                return;
            }
        };
        let keep_alive = head.keep_alive;
        let origin = head.origin.clone();
        let reply = match head.method {
            Method::Options => Reply::new(204, String::new()),
            Method::Get => match admit(&state, head) {
                Admitted::Now(reply) => reply,
                Admitted::Hold { key, sending, seen, epoch, wait } => {
                    let Some(live) = state.live_video.as_ref() else { return };
                    let origin = origin.clone().map(String::into_boxed_str);
                    let deadline = tokio::time::Instant::now() + wait;
                    let parked = Parked { stream, sending, seen, deadline, epoch, keep_alive, origin };
                    match live.audience.park(&key, parked) {
                        Ok(()) => {
                            // This task ends; the answer comes from `resume`.
                            state.metrics.live_signals_held.inc();
                            return;
                        }
                        // Due already (or a wait of 0): answered now.
                        Err(parked) => {
                            stream = parked.stream;
                            answer_now(&state, &key, sending, seen)
                        }
                    }
                }
            },
            Method::Other => Reply::new(
                405,
                error_body(ApiError::new(ErrorCode::NotFound, "this listener serves GET /api/v1/live/signal only")),
            ),
        };
        if !respond(&mut stream, reply, keep_alive, origin.as_deref(), &state).await {
            return;
        }
    }
}

/// Writes `reply`; whether the connection goes on (keep-alive, no error,
/// the server not stopping).
async fn respond(
    stream: &mut TcpStream,
    reply: Reply,
    keep_alive: bool,
    origin: Option<&str>,
    state: &AppState,
) -> bool {
    let Reply { status, body, location } = reply;
    let stopping = state.stopping.load(Ordering::Relaxed);
    let keep = keep_alive && status < 400 && !stopping;
    let response = Response { status, body: &body, location: location.as_deref(), keep_alive: keep };
    write(stream, response, origin, state).await.is_ok() && keep
}

/// A parked request whose answer is due: answered, and its connection
/// served again (keep-alive).
async fn resume(state: Arc<AppState>, key: String, parked: Parked) {
    state.metrics.live_signals_held.dec();
    let Parked { mut stream, sending, seen, keep_alive, origin, .. } = parked;
    let reply = answer_now(&state, &key, sending, seen);
    if respond(&mut stream, reply, keep_alive, origin.as_deref(), &state).await {
        connection(stream, state).await;
    }
}

/// A few times a second: answers the parked requests whose hold ran out;
/// every few sweeps also lets go of those whose candidate left.
async fn sweep(state: Weak<AppState>) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u32.. {
        ticks.tick().await;
        let Some(state) = state.upgrade() else { return };
        let Some(live) = &state.live_video else { return };
        let now = tokio::time::Instant::now();
        let look_for_gone = round % GONE_EVERY_SWEEPS == 0;
        let due = live.audience.unpark_where(|parked| parked.deadline <= now || (look_for_gone && parked.gone()));
        for (key, parked) in due {
            if parked.deadline > now {
                // Gone: nobody to answer.
                state.metrics.live_signals_held.dec();
                continue;
            }
            tokio::spawn(resume(Arc::clone(&state), key, parked));
        }
    }
}

/// What a request head amounts to once checked.
enum Admitted {
    Now(Reply),
    /// To hold on stream `key` for up to `wait`.
    Hold {
        key: String,
        sending: LiveView,
        seen: u64,
        epoch: u64,
        wait: Duration,
    },
}

/// What a request gets: a status, a JSON body, and where to go instead.
struct Reply {
    status: u16,
    body: String,
    location: Option<String>,
}

impl Reply {
    fn new(status: u16, body: String) -> Self {
        Self { status, body, location: None }
    }

    fn error(error: ApiError) -> Self {
        Self::new(status_of(&error), error_body(error))
    }

    /// The reply to a signal request that sent `sending` and had seen `seen`.
    fn of_signal(signal: Signal, sending: LiveView, seen: u64) -> Self {
        match signal {
            Signal::Answer(signal) => Self::new(200, serde_json::to_string(&signal).unwrap_or_default()),
            // The same question at the host that serves the candidate (the
            // hold's length is that host's default).
            Signal::Elsewhere(owner) => Self {
                status: 307,
                body: String::new(),
                location: Some(path_at(
                    &owner,
                    "/api/v1/live/signal",
                    Some(&format!("publishing={}&seen={seen}", sending.as_str())),
                )),
            },
        }
    }
}

/// A signal request's head checked: the route, the shard it names, the
/// query, the token, then what [`crate::live_api::signal_start`] says.
fn admit(state: &AppState, head: Head) -> Admitted {
    let Head { target, authorization, .. } = head;
    let Some(SignalTarget { shard, query }) = signal_target(&target) else {
        return Admitted::Now(Reply::error(ApiError::new(ErrorCode::NotFound, "no such route")));
    };
    if let Some(named) = shard {
        if let Err(error) = crate::live_api::check_shard_named(state.live_video.as_ref(), named) {
            return Admitted::Now(Reply::error(error));
        }
    }
    let parsed: SignalQuery = match serde_urlencoded::from_str(query) {
        Ok(query) => query,
        Err(e) => {
            return Admitted::Now(Reply::error(ApiError::bad_field("query", ProblemCode::InvalidType, e.to_string())))
        }
    };
    let claims = {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
            headers.insert(axum::http::header::AUTHORIZATION, value);
        }
        state.verifier.candidate(&headers)
    };
    let claims = match claims {
        Ok(claims) => claims,
        Err(error) => return Admitted::Now(Reply::error(error)),
    };
    let (sending, seen) = (parsed.publishing, parsed.seen);
    match crate::live_api::signal_start(state, claims, &parsed) {
        Ok(SignalStart::Now(signal)) => Admitted::Now(Reply::of_signal(signal, sending, seen)),
        Ok(SignalStart::Wait { key, epoch, wait, .. }) => Admitted::Hold { key, sending, seen, epoch, wait },
        Err(error) => Admitted::Now(Reply::error(error)),
    }
}

/// The signal for stream `key` as it stands now.
fn answer_now(state: &AppState, key: &str, sending: LiveView, seen: u64) -> Reply {
    let Some(live) = state.live_video.as_ref() else {
        return Reply::error(ApiError::new(ErrorCode::NotFound, "live video is not enabled on this server"));
    };
    let (view, messages) = live.audience.current(key, seen);
    Reply::of_signal(crate::live_api::signal_end(live, key, view, messages), sending, seen)
}

/// A signal request's target: the shard it names, if any, and its query
/// (`""` when it has none).
#[derive(Debug, PartialEq)]
struct SignalTarget<'a> {
    shard: Option<&'a str>,
    query: &'a str,
}

/// The signal's target, or `None` for any other path.
fn signal_target(target: &str) -> Option<SignalTarget<'_>> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/api/v1/live/signal" {
        return Some(SignalTarget { shard: None, query });
    }
    let shard = path.strip_prefix(SHARD_PREFIX)?.strip_suffix("/signal")?;
    (!shard.is_empty() && !shard.contains('/')).then_some(SignalTarget { shard: Some(shard), query })
}

fn status_of(error: &ApiError) -> u16 {
    error.body.error.code.http_status()
}

fn error_body(error: ApiError) -> String {
    serde_json::to_string(&error.body).unwrap_or_default()
}

/// Reads one request head. `Ok(None)`: the peer closed or stayed idle.
async fn read_head(stream: &mut TcpStream) -> Result<Option<Head>, &'static str> {
    // On the heap only while bytes arrive, and gone once parsed: an idle
    // keep-alive connection and a held signal keep none of it.
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let limit = if buffer.is_empty() { IDLE } else { HEAD_TIMEOUT };
        if !matches!(tokio::time::timeout(limit, stream.readable()).await, Ok(Ok(()))) {
            return Ok(None);
        }
        buffer.reserve(1024);
        match stream.try_read_buf(&mut buffer) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return Ok(None),
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(_)) => return Ok(Some(head_of(&request))),
            Ok(httparse::Status::Partial) if buffer.len() < MAX_HEAD_BYTES => continue,
            Ok(httparse::Status::Partial) => return Err("the request head is larger than 8 KiB"),
            Err(_) => return Err("malformed HTTP request"),
        }
    }
}

fn head_of(request: &httparse::Request<'_, '_>) -> Head {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::to_owned)
    };
    let has_body = header("content-length").is_some_and(|l| l.trim() != "0") || header("transfer-encoding").is_some();
    let close = header("connection").is_some_and(|c| c.to_ascii_lowercase().contains("close"));
    Head {
        method: match request.method {
            Some("GET") if !has_body => Method::Get,
            Some("OPTIONS") if !has_body => Method::Options,
            _ => Method::Other,
        },
        target: request.path.unwrap_or("/").to_owned(),
        authorization: header("authorization"),
        origin: header("origin"),
        keep_alive: request.version == Some(1) && !close && !has_body,
    }
}

/// The `Access-Control-*` lines for `origin` under the configured origins.
fn cors(state: &AppState, origin: Option<&str>) -> String {
    let origins = &state.settings.cors_origins;
    let allowed = if origins.iter().any(|o| o == "*") {
        Some("*")
    } else {
        origin.filter(|o| origins.iter().any(|allowed| allowed == o))
    };
    match allowed {
        Some(allowed) => format!(
            "access-control-allow-origin: {allowed}\r\nvary: origin\r\naccess-control-allow-methods: GET\r\n\
             access-control-allow-headers: authorization\r\naccess-control-max-age: 600\r\n"
        ),
        None => String::new(),
    }
}

/// A response about to be written.
struct Response<'a> {
    status: u16,
    body: &'a str,
    location: Option<&'a str>,
    keep_alive: bool,
}

async fn write(
    stream: &mut TcpStream,
    response: Response<'_>,
    origin: Option<&str>,
    state: &AppState,
) -> std::io::Result<()> {
    let Response { status, body, location, keep_alive } = response;
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let location = location.map(|to| format!("location: {to}\r\n")).unwrap_or_default();
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncache-control: no-store\r\n\
         content-length: {}\r\n{location}{}connection: {}\r\n\r\n{body}",
        body.len(),
        cors(state, origin),
        if keep_alive { "keep-alive" } else { "close" },
    );
    stream.write_all(response.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_signal_path_is_answered() {
        let entry = |query| Some(SignalTarget { shard: None, query });
        assert_eq!(signal_target("/api/v1/live/signal?publishing=none&seen=3"), entry("publishing=none&seen=3"));
        assert_eq!(signal_target("/api/v1/live/signal"), entry(""));
        assert_eq!(
            signal_target("/api/v1/live/shards/live-1/signal?seen=2"),
            Some(SignalTarget { shard: Some("live-1"), query: "seen=2" })
        );
        assert_eq!(signal_target("/api/v1/live/whip"), None);
        assert_eq!(signal_target("/api/v1/live/signal/../whip"), None);
        assert_eq!(signal_target("/api/v1/live/shards//signal"), None);
        assert_eq!(signal_target("/api/v1/live/shards/a/b/signal"), None);
        assert_eq!(signal_target("/api/v1/live/shards/live-1/whip"), None);
    }

    #[test]
    fn heads_are_parsed_to_what_the_wait_needs() {
        let raw = b"GET /api/v1/live/signal?publishing=none HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\
                    Origin: https://exam.example\r\n\r\n";
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        assert!(request.parse(raw).unwrap().is_complete());
        let head = head_of(&request);
        assert!(head.method == Method::Get && head.keep_alive);
        assert_eq!(head.authorization.as_deref(), Some("Bearer t"));
        assert_eq!(head.origin.as_deref(), Some("https://exam.example"));

        let raw = b"POST /api/v1/live/signal HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        request.parse(raw).unwrap();
        let head = head_of(&request);
        assert!(head.method == Method::Other && !head.keep_alive);
    }
}
