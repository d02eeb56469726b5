//! `schemas/openapi.yaml` and the Rust types agree. Drift in either direction
//! fails here:
//!
//! - every golden fixture validates (valid ones) or not (invalid ones) against
//!   the document's `EventBatch`;
//! - the document's event types are exactly [`EventKind::ALL`], and each
//!   kind's properties are exactly the Rust head + body fields;
//! - responses serialized from the Rust types validate against their schemas
//!   (which forbid additional properties, so a new Rust field must be
//!   documented).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use invigil_schemas::api::{
    AdminConfigResponse, ConfigHistoryResponse, ConfigResponse, ConfigVersionResponse, CredentialsResponse, ErrorBody,
    EventsResponse, LiveSignal, LiveView, MessageAccepted, MessageLevel, MessageRequest, PostForm, ProctorMessage,
    ShutdownAction, ShutdownReason,
};
use invigil_schemas::claims::{StaffClaims, StaffRole};
use invigil_schemas::config::{ConfigDocument, Duty, ProctorConfig};
use invigil_schemas::event::EventKind;
use invigil_schemas::live::{LiveCounters, LiveStatus, LiveTotals};
use invigil_schemas::validate::{parse_batch, Limits};
use serde_json::{json, Value};

fn document() -> Value {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml")).unwrap();
    serde_yaml::from_str(&text).expect("openapi.yaml parses")
}

/// A validator for `#/components/schemas/{name}` of the document.
fn validator(doc: &Value, name: &str) -> jsonschema::Validator {
    let mut root = doc.clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["$ref"] = json!(format!("#/components/schemas/{name}"));
    jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("schema {name} compiles: {e}"))
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match openapi.yaml:\n{}", errors.join("\n"));
}

fn fixture_files(kind: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(kind);
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    files.sort();
    files
}

#[test]
fn fixtures_agree_with_the_document() {
    let doc = document();
    let batch = validator(&doc, "EventBatch");
    for path in fixture_files("valid") {
        let value: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_valid(&batch, &value, &path.display().to_string());
    }
    for path in fixture_files("invalid") {
        let bytes = fs::read(&path).unwrap();
        assert!(parse_batch(&bytes, &Limits::default()).is_err());
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(!batch.is_valid(&value), "{} is invalid for Rust but valid for openapi.yaml", path.display());
    }
}

#[test]
fn event_kinds_and_fields_match_exactly() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let mapping: BTreeSet<String> =
        schemas["Event"]["discriminator"]["mapping"].as_object().unwrap().keys().cloned().collect();
    let rust: BTreeSet<String> = EventKind::ALL.iter().map(|k| k.as_str().to_owned()).collect();
    assert_eq!(mapping, rust, "event types differ between openapi.yaml and EventKind");
    assert_eq!(schemas["Event"]["oneOf"].as_array().unwrap().len(), EventKind::ALL.len());

    let event = validator(&doc, "Event");
    for kind in EventKind::ALL {
        let schema = &schemas[format!("Event_{}", kind.as_str())];
        let documented: BTreeSet<String> = schema["properties"].as_object().unwrap().keys().cloned().collect();
        let mut fields: BTreeSet<String> = ["id", "seq", "ts", "type"].map(String::from).into();
        fields.extend(kind.template().keys().cloned());
        assert_eq!(documented, fields, "fields of `{kind}` differ");

        // The Rust default event of this kind (optional fields null) is a
        // document-valid event, so the document requires nothing Rust omits.
        let mut sample =
            json!({"id": "0192f4a0-1234-7000-8000-000000000000", "seq": 1, "ts": 1, "type": kind.as_str()});
        for (key, value) in kind.template() {
            sample[key] = value.clone();
        }
        // Defaults that break a semantic rule (documented in both places) get a valid value.
        match kind {
            EventKind::Capture => {
                sample["key"] = json!("k.jpg");
                sample["bytes"] = json!(1);
            }
            EventKind::Recording => {
                sample["key"] = json!("video/camera/1/seg_00000.webm");
                sample["bytes"] = json!(1);
                sample["duration_ms"] = json!(10_000);
            }
            EventKind::KeyActivity => sample["interval_ms"] = json!(5000),
            EventKind::Display => sample["count"] = json!(1),
            EventKind::Custom => sample["name"] = json!("question_changed"),
            _ => {}
        }
        assert_valid(&event, &sample, &format!("default `{kind}` event"));
        let parsed: invigil_schemas::event::Event = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(serde_json::to_value(parsed).unwrap(), sample);
    }
}

/// `value`, serialised by Rust, is valid against `schema` of openapi.yaml.
fn check(doc: &Value, schema: &str, value: impl serde::Serialize, what: &str) {
    assert_valid(&validator(doc, schema), &serde_json::to_value(value).unwrap(), what);
}

#[test]
fn events_and_config_responses_match_their_schemas() {
    let doc = document();
    check(&doc, "EventsResponse", EventsResponse::Ok { accepted: 10, config_version: 3 }, "ok");
    for reason in [ShutdownReason::ProctoringDisabled, ShutdownReason::CandidateBypassed] {
        let shutdown = EventsResponse::Shutdown { reason, action: ShutdownAction::GracefulShutdown };
        check(&doc, "EventsResponse", shutdown, "shutdown");
    }
    check(&doc, "ConfigResponse", ConfigResponse { config_version: 1, config: ProctorConfig::default() }, "config");
    check(&doc, "ConfigDocument", ConfigDocument::default(), "document");
    let mut staffed = ConfigDocument::default();
    staffed.duty.insert(
        invigil_schemas::ids::TestId::new("exam-1").unwrap(),
        Duty { proctors: vec!["p1".into(), "p2".into()], capacity: 40 },
    );
    check(&doc, "ConfigDocument", &staffed, "document with duty");
    check(
        &doc,
        "AdminConfigResponse",
        AdminConfigResponse { version: 3, document: ConfigDocument::default() },
        "admin config",
    );
    check(&doc, "ConfigVersionResponse", ConfigVersionResponse { version: 4 }, "version");
    check(&doc, "ConfigHistoryResponse", ConfigHistoryResponse { current: 4, versions: vec![1, 2, 3, 4] }, "history");
    let staff = StaffClaims { sub: "p1".into(), role: StaffRole::Proctor, tests: vec![], exp: 2, iat: 1, name: None };
    check(&doc, "StaffClaims", &staff, "staff claims");
}

#[test]
fn credentials_responses_match_their_schema() {
    let doc = document();
    let credentials = CredentialsResponse {
        access_key_id: "ASIA".into(),
        secret_access_key: "s".into(),
        session_token: "t".into(),
        expiration: 1,
        bucket: "b".into(),
        region: "us-east-1".into(),
        endpoint: "http://127.0.0.1:15000".into(),
        prefix: "2026-11-22/exam-1/cand-7/".into(),
        forms: Vec::new(),
    };
    check(&doc, "CredentialsResponse", &credentials, "credentials");
    let forms = CredentialsResponse {
        access_key_id: String::new(),
        secret_access_key: String::new(),
        session_token: String::new(),
        forms: vec![PostForm {
            key_prefix: "2026-11-22/exam-1/cand-7/camera/".into(),
            content_type: "image/jpeg".into(),
            fields: vec![("policy".into(), "e30=".into()), ("x-amz-signature".into(), "ab".into())],
        }],
        ..credentials
    };
    check(&doc, "CredentialsResponse", forms, "credentials with forms");
}

#[test]
fn live_responses_match_their_schemas() {
    let doc = document();
    let live = LiveCounters {
        v: 1,
        test_id: "exam-1".into(),
        candidate_id: "cand-7".into(),
        session_id: uuid::Uuid::nil(),
        received_at: 1,
        published_at: 2,
        last_event_ts: 1,
        status: LiveStatus::Blocked,
        counters: LiveTotals { tab_switches: 3, ..Default::default() },
        score: 4.5,
        window_score: 1.0,
        components: vec![("tab_switch".into(), 3.0)],
        face_key: Some("2026-11-30/exam-1/cand-7/camera/1_x.jpg".into()),
        screen_key: None,
    };
    check(&doc, "LiveCounters", &live, "live counters");
    let message = ProctorMessage {
        id: 3,
        level: MessageLevel::Warning,
        text: "Eyes on your own screen, please".into(),
        from: "p1".into(),
        sent_at: 1_764_000_000_000,
    };
    for signal in [
        LiveSignal { publish: true, view: LiveView::Full, enabled: true, messages: Vec::new() },
        LiveSignal { publish: true, view: LiveView::Grid, enabled: true, messages: vec![message] },
        LiveSignal { publish: false, view: LiveView::None, enabled: false, messages: Vec::new() },
    ] {
        check(&doc, "LiveSignal", signal, "live signal");
    }
    check(&doc, "MessageAccepted", MessageAccepted { id: 1 }, "accepted");
    let request = MessageRequest { text: "Five minutes left".into(), level: MessageLevel::Info };
    check(&doc, "MessageRequest", request, "message request");
}

#[test]
fn error_bodies_match_their_schema() {
    let doc = document();
    let problems = parse_batch(b"{\"v\": 2}", &Limits::default()).unwrap_err().0;
    check(&doc, "ErrorBody", ErrorBody::invalid(problems), "400 body");
    let plain = ErrorBody::new(invigil_schemas::api::ErrorCode::Unauthorized, "token expired");
    check(&doc, "ErrorBody", plain, "401 body");
}

#[test]
fn every_spec_endpoint_is_documented_with_its_errors() {
    let doc = document();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method, statuses) in [
        ("/api/v1/config", "get", &["200", "401"][..]),
        ("/api/v1/credentials", "post", &["200", "401", "503"]),
        ("/api/v1/events", "post", &["200", "400", "401", "403", "413", "429", "503"]),
        ("/api/v1/admin/config", "get", &["200", "401", "403"]),
        ("/api/v1/admin/config", "put", &["200", "400", "401", "403", "413"]),
        ("/api/v1/admin/config/history", "get", &["200", "401", "403"]),
        ("/api/v1/admin/config/rollback", "post", &["200", "401", "403", "404"]),
        ("/api/v1/live/signal", "get", &["200", "401", "403", "429"]),
        ("/api/v1/live/whip", "post", &["201", "400", "401", "403", "404", "409", "413", "429"]),
        ("/api/v1/live/tests/{test_id}/candidates/{candidate_id}/whep", "post", &["201", "400", "401", "403", "404"]),
        (
            "/api/v1/live/tests/{test_id}/candidates/{candidate_id}/messages",
            "post",
            &["202", "400", "401", "403", "404", "429"],
        ),
        ("/api/v1/live/resources/{id}", "delete", &["200", "401", "404"]),
        ("/healthz", "get", &["200"]),
        ("/readyz", "get", &["200", "503"]),
        ("/metrics", "get", &["200"]),
    ] {
        let responses = &paths[path][method]["responses"];
        for status in statuses {
            assert!(responses.get(*status).is_some(), "{method} {path} documents {status}");
        }
    }
    let retry_after = &paths["/api/v1/events"]["post"]["responses"]["429"]["headers"]["Retry-After"];
    assert!(retry_after.is_object(), "429 documents Retry-After");
}
