//! The dashboard pages: plain HTML, CSS and JavaScript modules from
//! `dashboards/web/`, compiled into the binary so a deployment is one file
//! and there is no build step. Served under `/dashboard/` with a strict
//! Content-Security-Policy: scripts and styles only from here, images and
//! audio only from here and the media bucket, no framing.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use invigil_ingest::credentials::CredentialSettings;

use crate::Dashboards;

macro_rules! page {
    ($name:literal, $type:literal) => {
        ($name, $type, include_str!(concat!("../web/", $name)))
    };
}

/// Assets, as `(file name, content type, content)`.
pub const FILES: &[(&str, &str, &str)] = &[
    page!("style.css", "text/css; charset=utf-8"),
    page!("common.js", "text/javascript; charset=utf-8"),
    page!("proctor.js", "text/javascript; charset=utf-8"),
    page!("review.js", "text/javascript; charset=utf-8"),
    page!("admin.js", "text/javascript; charset=utf-8"),
    page!("index.js", "text/javascript; charset=utf-8"),
    page!("favicon.svg", "image/svg+xml"),
    page!("plot.js", "text/javascript; charset=utf-8"),
    page!("live.js", "text/javascript; charset=utf-8"),
    page!("dom.js", "text/javascript; charset=utf-8"),
    page!("format.js", "text/javascript; charset=utf-8"),
    page!("proctor-data.js", "text/javascript; charset=utf-8"),
    page!("proctor-view.js", "text/javascript; charset=utf-8"),
    page!("admin-data.js", "text/javascript; charset=utf-8"),
    page!("admin-settings.js", "text/javascript; charset=utf-8"),
    page!("settings-data.js", "text/javascript; charset=utf-8"),
    page!("review-data.js", "text/javascript; charset=utf-8"),
    page!("recording.js", "text/javascript; charset=utf-8"),
    page!("lms.js", "text/javascript; charset=utf-8"),
    page!("words.js", "text/javascript; charset=utf-8"),
    page!("words-en.json", "application/json"),
];

/// The pages, as `(file name, title, module)`: one shell
/// (`dashboards/web/shell.html`) that loads the page's module.
pub const PAGES: &[(&str, &str, &str)] = &[
    ("index.html", "Dashboards", "index.js"),
    ("proctor.html", "Proctor wall", "proctor.js"),
    ("review.html", "Review", "review.js"),
    ("admin.html", "Admin", "admin.js"),
];

const SHELL: &str = include_str!("../web/shell.html");

/// The HTML of page `name`, if there is one.
pub fn render_page(name: &str) -> Option<String> {
    let (_, title, module) = PAGES.iter().find(|(file, _, _)| *file == name)?;
    Some(SHELL.replace("{title}", title).replace("{module}", module))
}

/// The origin media is fetched from: the configured S3 endpoint's, or the
/// bucket's AWS host.
pub fn media_origin(settings: &CredentialSettings) -> String {
    let endpoint = settings.s3_endpoint.trim_end_matches('/');
    if endpoint.is_empty() {
        return format!("https://{}.s3.{}.amazonaws.com", settings.bucket, settings.region);
    }
    // scheme://host[:port] without any path.
    match endpoint.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => endpoint.to_owned(),
    }
}

/// The pages' Content-Security-Policy. The media origin is also reachable
/// with `fetch` and `blob:` URLs are allowed for images and audio: a part of
/// a bundle is fetched with a `Range` header and shown from a blob.
pub fn content_security_policy(settings: &CredentialSettings) -> String {
    let media = media_origin(settings);
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' {media}; \
         img-src 'self' data: blob: {media}; media-src 'self' blob: {media}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

pub async fn redirect_to_index() -> Redirect {
    Redirect::permanent("/dashboard/")
}

pub async fn get_index(state: State<Arc<Dashboards>>) -> Response {
    get_file(state, Path("index.html".to_owned())).await
}

pub async fn get_file(State(state): State<Arc<Dashboards>>, Path(name): Path<String>) -> Response {
    let (content_type, body) = match render_page(&name) {
        Some(html) => ("text/html; charset=utf-8", html),
        None => match FILES.iter().find(|(file, _, _)| *file == name) {
            Some((_, content_type, body)) => (*content_type, (*body).to_owned()),
            None => return (StatusCode::NOT_FOUND, "no such page\n").into_response(),
        },
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(policy) = HeaderValue::from_str(&state.content_security_policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_comes_from_the_endpoint_origin_or_the_bucket_host() {
        let mut settings = CredentialSettings::default();
        assert_eq!(media_origin(&settings), "https://invigil-media.s3.us-east-1.amazonaws.com");
        settings.s3_endpoint = "http://127.0.0.1:15000/some/path".into();
        assert_eq!(media_origin(&settings), "http://127.0.0.1:15000");
        let policy = content_security_policy(&settings);
        assert!(policy.contains("img-src 'self' data: blob: http://127.0.0.1:15000;"), "{policy}");
        assert!(policy.contains("connect-src 'self' http://127.0.0.1:15000;"), "bundle parts are fetched: {policy}");
        assert!(policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn every_page_names_only_embedded_files() {
        for (name, _, body) in FILES {
            assert!(!body.trim().is_empty(), "{name} is empty");
        }
        for (name, title, module) in PAGES {
            let html = render_page(name).unwrap();
            assert!(html.contains(&format!("<title>{title} · invigil</title>")) && !html.contains('{'), "{html}");
            // Every local script, stylesheet or icon the page names is served.
            let local = |s: &&str| [".js", ".css", ".svg"].iter().any(|ext| s.ends_with(ext)) && !s.contains("://");
            let references: Vec<&str> = html.split(['"', '\'']).filter(local).collect();
            assert!(references.contains(module), "{name} does not load {module}");
            for reference in references {
                assert!(FILES.iter().any(|(n, _, _)| *n == reference), "{name} names {reference}, which is not served");
            }
        }
        // Modules import only served modules; a statement may span lines.
        for (name, _, body) in FILES.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            let mut statement = String::new();
            for line in body.lines() {
                if statement.is_empty() && !line.starts_with("import ") {
                    continue;
                }
                statement.push_str(line);
                if !line.trim_end().ends_with(';') {
                    continue;
                }
                // The specifier is the first string after `from` (or the
                // only one, in a bare `import './x.js'`); import attributes
                // (`with { type: 'json' }`) may follow it.
                let specifier = statement.split_once(" from ").map_or(statement.as_str(), |(_, rest)| rest);
                let target = specifier
                    .split(['\'', '"'])
                    .nth(1)
                    .unwrap_or_else(|| panic!("{name}: cannot read the module `{statement}` imports"))
                    .trim_start_matches("./");
                assert!(FILES.iter().any(|(n, _, _)| *n == target), "{name} imports {target}, which is not served");
                statement.clear();
            }
            assert!(statement.is_empty(), "{name}: an import statement never ends: {statement}");
        }
    }
}
