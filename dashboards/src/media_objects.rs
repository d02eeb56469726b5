//! Reading and deleting a candidate's media objects on the server's side,
//! for an export and an erasure — the only places where the server, not a
//! browser, touches candidate media. Three S3 calls, each signed with the
//! dashboards' own credentials (which then need `s3:ListBucket`,
//! `s3:GetObject` and `s3:DeleteObject` on the bucket): ListObjectsV2 under
//! one candidate prefix, GetObject, DeleteObject.

use bytes::Bytes;

use crate::media::{percent_encode, MediaSigner};

/// One object found under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub bytes: u64,
}

/// The media bucket, as the dashboards' credentials reach it.
#[derive(Clone)]
pub struct MediaObjects {
    signer: MediaSigner,
    http: reqwest::Client,
}

/// Most keys one list call returns (S3's own maximum).
const PAGE: usize = 1_000;

impl MediaObjects {
    pub fn new(signer: MediaSigner) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("an HTTP client with default TLS builds");
        Self { signer, http }
    }

    /// Every object under `prefix`, in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, String> {
        let mut found = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/?list-type=2&max-keys={PAGE}&prefix={}",
                self.signer.bucket_url(),
                percent_encode(prefix, b"")
            );
            if let Some(token) = &continuation {
                url.push_str("&continuation-token=");
                url.push_str(&percent_encode(token, b""));
            }
            let body = self.send("GET", &url).await?.text().await.map_err(|e| format!("listing {prefix}: {e}"))?;
            let page = ListPage::parse(&body).map_err(|why| format!("listing {prefix}: {why}"))?;
            found.extend(page.objects);
            match page.next {
                Some(token) => continuation = Some(token),
                None => return Ok(found),
            }
        }
    }

    /// The object's bytes; `Ok(None)` when it is not there.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, String> {
        let url = self.signer.object_url(key);
        match self.send("GET", &url).await {
            Ok(response) => response.bytes().await.map(Some).map_err(|e| format!("reading {key}: {e}")),
            Err(why) if why.starts_with("404") => Ok(None),
            Err(why) => Err(why),
        }
    }

    /// Deletes the object (S3 answers 204 whether it was there or not).
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        self.send("DELETE", &self.signer.object_url(key)).await.map(drop)
    }

    /// A signed request; a status other than 2xx is an error starting with
    /// the status code.
    async fn send(&self, method: &str, url: &str) -> Result<reqwest::Response, String> {
        let headers = self.signer.signed_headers(method, url).await?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = self.http.request(method.clone(), url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| format!("media store: {method}: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let code = xml_text(&body, "Code").unwrap_or_default();
        Err(format!(
            "{} from the media store ({method}{}{code})",
            status.as_u16(),
            if code.is_empty() { "" } else { ": " }
        ))
    }
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, Default, PartialEq)]
struct ListPage {
    objects: Vec<StoredObject>,
    /// The token for the next page, when the answer was truncated.
    next: Option<String>,
}

impl ListPage {
    /// Reads the few elements used from the XML answer: each `<Contents>`'s
    /// `<Key>` and `<Size>`, `<IsTruncated>` and `<NextContinuationToken>`.
    fn parse(xml: &str) -> Result<Self, String> {
        if !xml.contains("<ListBucketResult") {
            return Err("the answer is not a ListBucketResult".into());
        }
        let mut page = ListPage::default();
        for contents in xml.split("<Contents>").skip(1) {
            let contents = contents.split("</Contents>").next().unwrap_or_default();
            let key = xml_text(contents, "Key").ok_or("an object without a Key")?;
            let bytes = xml_text(contents, "Size").and_then(|s| s.parse().ok()).ok_or("an object without a Size")?;
            page.objects.push(StoredObject { key, bytes });
        }
        if xml_text(xml, "IsTruncated").as_deref() == Some("true") {
            page.next = Some(xml_text(xml, "NextContinuationToken").ok_or("truncated without a continuation token")?);
        }
        Ok(page)
    }
}

/// The text of the first `<tag>…</tag>` in `xml`, entities decoded.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    let raw = &xml[start..end];
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_page_gives_keys_sizes_and_the_next_token() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>media</Name>
<Prefix>2026-12-06/t/c/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>2026-12-06/t/c/camera/1_a.jpg</Key><LastModified>2026-12-06T10:00:00.000Z</LastModified><Size>31337</Size></Contents>
<Contents><Key>2026-12-06/t/c/screen/a&amp;b.jpg</Key><Size>7</Size></Contents>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>"#;
        let page = ListPage::parse(xml).unwrap();
        assert_eq!(
            page.objects,
            [
                StoredObject { key: "2026-12-06/t/c/camera/1_a.jpg".into(), bytes: 31_337 },
                StoredObject { key: "2026-12-06/t/c/screen/a&b.jpg".into(), bytes: 7 },
            ]
        );
        assert_eq!(page.next.as_deref(), Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
        let last = ListPage::parse("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").unwrap();
        assert_eq!(last, ListPage::default());
        assert!(ListPage::parse("<Error><Code>AccessDenied</Code></Error>").is_err());
        assert!(ListPage::parse("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>").is_err());
        assert!(ListPage::parse("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>").is_err());
    }
}
