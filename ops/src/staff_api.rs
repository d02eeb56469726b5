//! The dashboards' API as the CLI calls it: a running server and a staff
//! token, with the server's JSON error turned into one readable line.

use std::time::Duration;

use anyhow::{bail, Context};

/// Where the server is and who asks.
#[derive(clap::Args, Clone)]
pub struct Server {
    /// The server (ingest with the dashboards, or `invigil up`).
    #[arg(long, env = "INVIGIL_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A staff token (`invigil token`, or one `invigil up` printed).
    #[arg(long, env = "INVIGIL_STAFF_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl Server {
    /// Sends `method path` (with `body` as JSON); a status other than 2xx
    /// is an error carrying the server's message.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let client = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build()?;
        let token = self.token.as_deref().filter(|t| !t.is_empty());
        let token = token.context("no staff token: give --token or set INVIGIL_STAFF_TOKEN")?;
        let mut request =
            client.request(method, format!("{}{path}", self.url.trim_end_matches('/'))).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| format!("reaching {}", self.url))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or("no explanation given");
        bail!("the server answered {status}: {message}")
    }

    /// [`Self::send`], reading a JSON answer.
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        self.send(method, path, body).await?.json().await.context("reading the server's answer")
    }
}
