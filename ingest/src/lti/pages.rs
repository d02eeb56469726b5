//! The HTML pages an LTI launch answers with: the proctoring page (the SDK's
//! checks, then the assessment in a frame beneath the SDK), the page that
//! ends proctoring, and a page for every refusal that says what went wrong
//! without echoing tokens.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What the proctoring page's script needs.
#[derive(Debug, Serialize)]
pub struct ProctorPage<'a> {
    /// The candidate's token, minted by the launch.
    pub token: &'a str,
    /// For `LtiStartProctoring`: the ticket `/lti/start-assessment` takes.
    pub ticket: Option<&'a str>,
    /// The signed ACS context, recorded in the timeline (`invigil.lti`)
    /// for the proctor's controls, when the platform offers the service.
    pub acs: Option<&'a str>,
    /// Shown to the candidate.
    pub test_title: &'a str,
    /// Identity mode: how long to wait, once the checks pass, for the SDK's
    /// reference face before opening the assessment (0: do not wait).
    pub identity_wait_ms: u32,
    /// The SDK's script.
    #[serde(skip)]
    pub sdk_url: &'a str,
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fff}\
main{max-width:40rem;margin:2rem auto;padding:0 1rem}h1{font-size:1.4rem}\
#assessment{position:fixed;inset:0;width:100%;height:100%;border:0;background:#fff}\
.note{color:#444}@media (prefers-color-scheme:dark){body{color:#eee;background:#121212}.note{color:#bbb}}";

/// The page a proctored launch lands on. The SDK loads from this server
/// and runs its checks (camera, microphone, screen, fullscreen) in its own
/// overlay; once it runs — or if it cannot start at all, which is our
/// failure and never the candidate's — a `LtiStartProctoring` launch asks
/// for the signed `LtiStartAssessment` and posts it to the platform into a
/// frame that fills the page, so the SDK keeps watching while the
/// candidate works. A plain launch just keeps proctoring on.
pub fn proctor(page: &ProctorPage<'_>) -> Response {
    let data = serde_json::to_string(page).expect("page data serializes").replace('<', "\\u003c");
    let title = escape(page.test_title);
    let sdk = escape(page.sdk_url);
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Proctoring: {title}</title><style>{STYLE}</style></head>
<body><main>
<h1>Proctoring for {title}</h1>
<p id="lti-status" role="status" aria-live="polite">Starting the proctoring checks…</p>
<p class="note">Allow the camera, microphone and screen sharing when your browser asks. Your assessment opens here as soon as the checks pass.</p>
</main>
<script type="application/json" id="lti-launch">{data}</script>
<script src="{sdk}" async></script>
<script src="/lti/proctor.js"></script>
</body></html>"#
    );
    html(StatusCode::OK, body)
}

/// The proctoring page's script, served at `/lti/proctor.js` (a file, not
/// inline, so a strict content security policy can apply).
pub const PROCTOR_JS: &str = r#"(function () {
  'use strict';
  var launch = JSON.parse(document.getElementById('lti-launch').textContent);
  var status = document.getElementById('lti-status');
  var started = false;
  var waiting = false;
  var reference = false;
  function say(text) { status.textContent = text; }
  function startAssessment() {
    if (started || !launch.ticket) return;
    started = true;
    say('Checks passed. Opening your assessment…');
    fetch('/lti/start-assessment', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ticket: launch.ticket, identity_reference: reference }),
    }).then(function (response) {
      if (!response.ok) return response.text().then(function (text) { throw new Error(text || ('HTTP ' + response.status)); });
      return response.json();
    }).then(function (start) {
      var frame = document.createElement('iframe');
      frame.id = 'assessment';
      frame.name = 'invigil-assessment';
      frame.title = 'Your assessment';
      frame.allow = 'fullscreen';
      document.body.appendChild(frame);
      var form = document.createElement('form');
      form.method = 'POST';
      form.action = start.url;
      form.target = frame.name;
      var field = document.createElement('input');
      field.type = 'hidden';
      field.name = 'JWT';
      field.value = start.jwt;
      form.appendChild(field);
      document.body.appendChild(form);
      form.submit();
      form.remove();
    }).catch(function (error) {
      started = false;
      say('Your assessment could not be opened (' + error.message + '). Reload this page to try again.');
    });
  }
  // Identity mode: the assessment opens once the SDK has its reference
  // face, or after identity_wait_ms without one (never held longer).
  function checksPassed() {
    if (!launch.identity_wait_ms || reference) return startAssessment();
    if (waiting) return;
    waiting = true;
    say('Checks passed. Look at the camera for a moment: a reference photo of your face is being taken…');
    setTimeout(startAssessment, launch.identity_wait_ms);
  }
  var recorded = false;
  function follow(invigil) {
    function onStatus(state) {
      if (state === 'running' && launch.acs && !recorded) {
        // The attempt's Assessment Control Service, for the proctor's page.
        recorded = true;
        invigil.track('invigil.lti', { acs: launch.acs });
      }
      if (state === 'running') { if (launch.ticket) checksPassed(); else say('Proctoring is on. Keep this page open while you take your assessment.'); }
      // The SDK could not start: our failure, never a reason to hold the candidate back.
      else if (state === 'failed') { if (launch.ticket) startAssessment(); else say('Proctoring could not start; you may go on.'); }
      else if (state === 'stopped') say('Proctoring has ended.');
    }
    try {
      invigil.on('identity', function () { reference = true; if (waiting) startAssessment(); });
    } catch (e) {
      // An SDK without the notice: nothing to wait for.
      launch.identity_wait_ms = 0;
    }
    invigil.on('status', function (detail) { onStatus(detail.state); });
    onStatus(invigil.status);
    if (!invigil.status || invigil.status === 'idle') invigil.start({ endpoint: location.origin, token: launch.token });
  }
  if (window.invigil) follow(window.invigil);
  else window.addEventListener('invigil:loaded', function () { follow(window.invigil); }, { once: true });
})();
"#;

/// The page an `LtiEndAssessment` launch lands on: inside the proctoring
/// page's frame (the usual case) it stops the SDK there; alone, it says
/// proctoring is over.
pub fn ended(test_title: &str) -> Response {
    let title = escape(test_title);
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Proctoring ended: {title}</title><style>{STYLE}</style></head>
<body><main><h1>Proctoring has ended</h1>
<p role="status">Your attempt at {title} is over and proctoring has stopped. You can close this window.</p></main>
<script>
try {{ if (window.parent !== window && window.parent.invigil) window.parent.invigil.stop(); }} catch (e) {{}}
</script></body></html>"#
    );
    html(StatusCode::OK, body)
}

/// A refused launch: the status, what went wrong and what to do, for the
/// candidate and for the platform's administrator who reads the logs.
pub fn refused(status: StatusCode, reason: &str) -> Response {
    let reason = escape(reason);
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Proctoring could not start</title><style>{STYLE}</style></head>
<body><main><h1>Proctoring could not start</h1>
<p id="lti-error" data-status="{code}">{reason}</p>
<p class="note">Go back to your course and open the assessment again. If this keeps happening, tell your course's administrator what this page says.</p>
</main></body></html>"#,
        code = status.as_u16()
    );
    html(status, body)
}

/// An HTML page with `status`, never cached, sending no referrer.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn what_the_page_shows_is_escaped_and_the_launch_data_cannot_close_its_script() {
        let page = ProctorPage {
            token: "t",
            ticket: Some("</script><script>alert(1)</script>"),
            acs: None,
            test_title: "Quiz <b>&</b>",
            identity_wait_ms: 0,
            sdk_url: "https://cdn.example/invigil.js?v=1&x=\"y",
        };
        let html = text(proctor(&page)).await;
        assert!(html.contains("Proctoring for Quiz &lt;b&gt;&amp;&lt;/b&gt;"), "{html}");
        assert!(html.contains(r#"<script src="https://cdn.example/invigil.js?v=1&amp;x=&quot;y" async>"#), "{html}");
        assert!(!html.contains("</script><script>alert"), "{html}");
        assert!(html.contains(r#"\u003c/script>"#), "{html}");
        let refused = text(refused(StatusCode::FORBIDDEN, "deployment \"<x>\" is unknown")).await;
        assert!(
            refused.contains("deployment &quot;&lt;x&gt;&quot; is unknown") && refused.contains(r#"data-status="403""#)
        );
    }
}
