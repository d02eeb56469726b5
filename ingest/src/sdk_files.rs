//! The browser SDK's bundle (`sdk/build.sh` → `invigil.js`, `invigil-live.js`,
//! `invigil_bg.wasm`, and the face-check chunk `invigil-face.js`,
//! `invigil_face_bg.wasm`, `invigil-face-yunet.onnx`) served as static files, so one image can hand host
//! pages their script tag: `<script src="https://proctor.example/sdk/invigil.js">`.
//!
//! Only plain file names with a known type are served (no paths, no dot
//! files). The files are public: any page may load them, so they carry
//! `Access-Control-Allow-Origin: *` (the loader fetches the wasm
//! cross-origin) and their proper types (the SDK compiles the wasm from its
//! bytes and would take any, but `application/wasm` is what it is).

use std::path::Path;

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// How long browsers and CDNs may keep a file of a deployed bundle: short,
/// because the names carry no version and a new release must reach
/// candidates the same day.
pub const DEPLOYED_CACHE: &str = "public, max-age=300";

/// The content type of an SDK file name, or `None` if it is not one.
fn content_type(name: &str) -> Option<&'static str> {
    if name.starts_with('.') || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return None;
    }
    match name.rsplit_once('.')?.1 {
        "js" => Some("text/javascript"),
        "wasm" => Some("application/wasm"),
        // The face detector's model, fetched by the face Worker.
        "onnx" => Some("application/octet-stream"),
        _ => None,
    }
}

/// 404 with the error body every route answers with.
pub fn not_found(why: impl Into<String>) -> Response {
    crate::error::ApiError::new(invigil_schemas::api::ErrorCode::NotFound, why).into_response()
}

/// `dir/name` as a response, or 404 for anything else.
pub async fn response(dir: &Path, name: &str, cache_control: &'static str) -> Response {
    let Some(content_type) = content_type(name) else {
        return not_found("no such SDK file: the bundle's .js, .wasm and .onnx files are served");
    };
    match tokio::fs::read(dir.join(name)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, cache_control),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(format!("no SDK file {name} here (is the bundle built into sdk_dir?)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn only_plain_names_of_known_types_are_served() {
        assert_eq!(content_type("invigil.js"), Some("text/javascript"));
        assert_eq!(content_type("invigil_bg.wasm"), Some("application/wasm"));
        assert_eq!(content_type("invigil-face-yunet.onnx"), Some("application/octet-stream"));
        for refused in ["../etc/passwd.js", ".hidden.js", "invigil.d.ts", "a/b.js", "x.js%00", "config.json"] {
            assert_eq!(content_type(refused), None, "{refused}");
        }
    }

    #[tokio::test]
    async fn files_come_with_their_type_and_open_cors_and_others_are_404() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("invigil_bg.wasm"), b"\0asm").unwrap();
        let ok = response(dir.path(), "invigil_bg.wasm", DEPLOYED_CACHE).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(response(dir.path(), "invigil.js", DEPLOYED_CACHE).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(response(dir.path(), "../x.wasm", DEPLOYED_CACHE).await.status(), StatusCode::NOT_FOUND);
    }
}
