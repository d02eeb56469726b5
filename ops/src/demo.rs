//! The demo host app of `invigil up`: a small sample exam on its own origin
//! that embeds the SDK with one script tag, as a customer's exam would. Each
//! visit mints a fresh candidate token (the host app's server does that in
//! real life); `?candidate=NAME` picks the candidate id instead.
//!
//! It serves the SDK bundle from `sdk/dist` (built by `sdk/build.sh`); when
//! that is missing the page says so instead of failing quietly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// What the pages need.
pub struct Demo {
    /// Where browsers reach ingest.
    pub endpoint: String,
    pub test: String,
    pub token_secret: String,
    pub sdk_dir: PathBuf,
    /// Names anonymous visitors `candidate-1`, `candidate-2`, … per run,
    /// after a per-run stamp so restarts do not reuse a finished session's id.
    visitors: AtomicU64,
    run: String,
}

impl Demo {
    pub fn new(endpoint: String, test: String, token_secret: String, sdk_dir: PathBuf) -> Self {
        let run = format!("{:x}", crate::now_ms() / 1000 % 0x10_0000);
        Self { endpoint, test, token_secret, sdk_dir, visitors: AtomicU64::new(0), run }
    }

    fn next_candidate(&self) -> String {
        format!("candidate-{}-{}", self.run, self.visitors.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Whether the SDK bundle is there to serve.
    pub fn sdk_built(&self) -> bool {
        self.sdk_dir.join("invigil.js").is_file() && self.sdk_dir.join("invigil_bg.wasm").is_file()
    }
}

#[derive(serde::Deserialize)]
struct Visit {
    candidate: Option<String>,
}

async fn exam(State(demo): State<Arc<Demo>>, Query(visit): Query<Visit>) -> Response {
    if !demo.sdk_built() {
        let message = format!(
            "<!doctype html><title>invigil demo</title><p>The SDK bundle is not built: \
             {} has no invigil.js. Run <code>sdk/build.sh</code> and reload.",
            escape(&demo.sdk_dir.display().to_string())
        );
        return (StatusCode::SERVICE_UNAVAILABLE, Html(message)).into_response();
    }
    let candidate = visit.candidate.unwrap_or_else(|| demo.next_candidate());
    let now = crate::now_ms() / 1000;
    let claims = match crate::token::claims("candidate", &candidate, &[demo.test.clone()], Some(&candidate), now, 6) {
        Ok(claims) => claims,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error:#}")).into_response(),
    };
    let token = crate::token::sign(&demo.token_secret, &claims);
    let page = EXAM_PAGE
        .replace("{{endpoint}}", &escape(&demo.endpoint))
        .replace("{{token}}", &escape(&token))
        .replace("{{candidate}}", &escape(&candidate))
        .replace("{{test}}", &escape(&demo.test));
    ([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

/// Files of the SDK bundle, by plain name only (no paths).
async fn sdk_file(State(demo): State<Arc<Demo>>, Path(name): Path<String>) -> Response {
    // Revalidated on every load: the demo is where a rebuilt SDK is tried.
    invigil_ingest::sdk_files::response(&demo.sdk_dir, &name, "no-cache").await
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Serves the demo on `listen` until `shutdown` resolves; returns the bound address at once.
pub async fn serve(
    demo: Demo,
    listen: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let router = axum::Router::new()
        .route("/", axum::routing::get(exam))
        .route("/sdk/{name}", axum::routing::get(sdk_file))
        .with_state(Arc::new(demo));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the demo exam to {listen} (--demo-listen)"))?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
            tracing::error!(%error, "the demo exam server stopped");
        }
    });
    Ok((address, server))
}

const EXAM_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sample exam · invigil demo</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #1d2430; }
  header { display: flex; justify-content: space-between; align-items: baseline; border-bottom: 1px solid #d5dae1; }
  .who { color: #5b6573; font-size: .9rem; }
  fieldset { border: 1px solid #d5dae1; border-radius: 6px; margin: 1rem 0; }
  textarea { width: 100%; min-height: 6rem; font: inherit; }
  #status { font-size: .9rem; color: #5b6573; }
  #submitted { display: none; color: #1a7f37; font-weight: 600; }
  :root { color-scheme: light dark; }
  @media (prefers-color-scheme: dark) {
    html { background: #0f172a; }
    body { color: #e2e8f0; }
    header, fieldset { border-color: #334155; }
    .who, #status { color: #94a3b8; }
    #submitted { color: #4ade80; }
  }
</style>
</head>
<body>
<header>
  <h1>Sample exam</h1>
  <span class="who">candidate <b id="candidate">{{candidate}}</b> · test <b>{{test}}</b></span>
</header>
<p>This page stands in for a host application: it embeds the invigil SDK with one script tag.
Allow the camera, the microphone and screen sharing, stay in fullscreen, and answer.</p>
<p id="status">proctoring: <span id="state">loading</span></p>
<form id="exam">
  <fieldset><legend>1. What does a Kafka consumer group give you?</legend>
    <label><input type="radio" name="q1" value="a"> Each record delivered to one consumer of the group</label><br>
    <label><input type="radio" name="q1" value="b"> Each record delivered to every consumer</label></fieldset>
  <fieldset><legend>2. Which ClickHouse engine collapses rows with the same sorting key on merge?</legend>
    <label><input type="radio" name="q2" value="a"> ReplacingMergeTree</label><br>
    <label><input type="radio" name="q2" value="b"> Log</label></fieldset>
  <fieldset><legend id="q3">3. In your own words: why buffer uploads in IndexedDB?</legend>
    <textarea name="q3" id="answer" aria-labelledby="q3"></textarea></fieldset>
  <button type="submit" id="submit">Submit and finish</button>
  <p id="submitted">Submitted — proctoring has stopped. You may close this tab.</p>
</form>
<script>
  // The host app's side: show the SDK's state, stop proctoring on submit.
  // The tag is async: wire up on 'invigil:loaded', or now if it already ran.
  function wire(invigil) {
    const state = document.getElementById('state');
    state.textContent = invigil.status;
    invigil.on('status', (notice) => { state.textContent = notice.state; });
    invigil.on('block', (notice) => { state.textContent = 'blocked: ' + notice.reason; });
    invigil.on('error', (error) => { state.textContent = 'not proctored (' + error.code + '): ' + error.message; });
    document.getElementById('exam').addEventListener('submit', (event) => {
      event.preventDefault();
      invigil.track('exam_submitted', { answered: new FormData(event.target).getAll('q1').length });
      invigil.stop();
      document.getElementById('submit').disabled = true;
      document.getElementById('submitted').style.display = 'block';
    });
  }
  if (window.invigil) wire(window.invigil);
  else window.addEventListener('invigil:loaded', (event) => wire(event.detail), { once: true });
</script>
<script src="/sdk/invigil.js" data-endpoint="{{endpoint}}" data-token="{{token}}" async></script>
</body>
</html>
"#;
