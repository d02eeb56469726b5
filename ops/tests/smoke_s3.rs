//! The S3 + STS service (moto) is real: AssumeRole with an inline session
//! policy returns temporary credentials, and those credentials PUT an object
//! that then reads back with its exact size.

use std::time::Duration;

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;

fn endpoint() -> String {
    std::env::var("INVIGIL_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:15000".into())
}

fn s3_client(credentials: Credentials) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .force_path_style(true)
        .credentials_provider(credentials)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test]
async fn sts_assume_role_then_put_object_on_moto() {
    let root = Credentials::new("testing", "testing", None, None, "static");
    let bucket = format!("invigil-smoke-{}", std::process::id());
    let admin = s3_client(root.clone());
    tokio::time::timeout(Duration::from_secs(15), admin.create_bucket().bucket(&bucket).send())
        .await
        .unwrap_or_else(|_| {
            panic!("S3 at {} did not answer within 15 s; is `ops/dev/services.sh up` running?", endpoint())
        })
        .unwrap_or_else(|e| panic!("S3 at {} unreachable: {e:?}; is `ops/dev/services.sh up` running?", endpoint()));

    let prefix = "2026-11-22/exam-1/cand-7/";
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*"),
        }]
    });
    let sts_config = aws_sdk_sts::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(root)
        .build();
    let sts = aws_sdk_sts::Client::from_conf(sts_config);
    let assumed = sts
        .assume_role()
        .role_arn("arn:aws:iam::123456789012:role/invigil-uploader")
        .role_session_name("cand-7")
        .policy(policy.to_string())
        .duration_seconds(4 * 3600)
        .send()
        .await
        .expect("AssumeRole");
    let creds = assumed.credentials().expect("credentials in response");
    assert!(!creds.session_token().is_empty());
    let lifetime = creds.expiration().secs()
        - std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((4 * 3600 - 60..=4 * 3600 + 60).contains(&lifetime), "4 h lifetime, got {lifetime} s");

    let candidate = s3_client(Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
        None,
        "sts",
    ));
    let key = format!("{prefix}camera/1763800000000_smoke.jpg");
    let body = vec![0xffu8; 25 * 1024];
    candidate
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .content_type("image/jpeg")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("PutObject with STS credentials");

    let head = admin.head_object().bucket(&bucket).key(&key).send().await.expect("object exists");
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert_eq!(head.content_type(), Some("image/jpeg"));
}
