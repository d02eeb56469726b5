//! invigil's own signing keys as an LTI tool: RSA keys (RS256, which LTI
//! 1.3 requires) that sign what the tool sends a platform (the
//! `LtiStartAssessment` message, the client assertions of the Assessment
//! Control Service) and the tokens a launch mints, published at
//! `/lti/jwks` so platforms can check them.
//!
//! Rotation: `[lti] key_files` lists PEM files, newest first. The first
//! signs; all are published, so a platform keeps accepting what an older
//! key signed until the operator drops it from the list. Each key's `kid`
//! is its RFC 7638 thumbprint, stable across restarts and replicas.

use std::path::{Path, PathBuf};

use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;

/// One key: what signs, what checks, and what is published.
struct ToolKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

/// The tool's keys, the signing one first.
pub struct ToolKeys {
    keys: Vec<ToolKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not an RSA private key in PEM ({source})")]
    Parse { path: PathBuf, source: jsonwebtoken::errors::Error },
    #[error("{path}: an RSA key of {bits} bits; LTI platforms expect at least 2048")]
    Weak { path: PathBuf, bits: usize },
    #[error("no key files: set [lti] key_files")]
    None,
    #[error("generating an RSA key failed")]
    Generate,
}

impl ToolKeys {
    /// The keys in `paths`, the first signing.
    pub fn from_files(paths: &[PathBuf]) -> Result<ToolKeys, KeyError> {
        if paths.is_empty() {
            return Err(KeyError::None);
        }
        let keys = paths
            .iter()
            .map(|path| {
                let pem = std::fs::read(path).map_err(|source| KeyError::Read { path: path.clone(), source })?;
                ToolKey::from_pem(&pem).map_err(|e| e.at(path))
            })
            .collect::<Result<_, _>>()?;
        Ok(ToolKeys { keys })
    }

    /// One key from its PEM text (a test's platform signs like the tool).
    pub fn from_pem(pem: &[u8]) -> Result<ToolKeys, KeyError> {
        let key = ToolKey::from_pem(pem).map_err(|e| e.at(Path::new("(PEM text)")))?;
        Ok(ToolKeys { keys: vec![key] })
    }

    /// Reads the key at `path`, first making a new 2048-bit one there (mode
    /// 0600) if there is none: what `invigil up` does for one machine.
    pub fn load_or_create(path: &Path) -> Result<ToolKeys, KeyError> {
        if !path.exists() {
            let pem = generate_pem()?;
            write_private(path, pem.as_bytes()).map_err(|source| KeyError::Read { path: path.into(), source })?;
        }
        ToolKeys::from_files(&[path.to_path_buf()])
    }

    /// `claims` signed RS256 by the signing key, its `kid` in the header.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        let key = &self.keys[0];
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &key.encoding).expect("RS256 signing with a parsed key")
    }

    /// The public half of `kid`, if it is one of ours.
    pub fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.iter().find(|k| k.kid == kid).map(|k| &k.decoding)
    }

    /// The signing key's id.
    pub fn current_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// Every key's public half, for `/lti/jwks`.
    pub fn jwks(&self) -> JwkSet {
        JwkSet { keys: self.keys.iter().map(|k| k.jwk.clone()).collect() }
    }
}

impl ToolKey {
    fn from_pem(pem: &[u8]) -> Result<ToolKey, PemError> {
        let encoding = EncodingKey::from_rsa_pem(pem).map_err(PemError::Parse)?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(PemError::Parse)?;
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            unreachable!("an RSA encoding key gives an RSA JWK")
        };
        let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&rsa.n).unwrap_or_default();
        let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
        if bits < 2048 {
            return Err(PemError::Weak(bits));
        }
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(PemError::Parse)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(PemError::Parse)?;
        Ok(ToolKey { kid, encoding, decoding, jwk })
    }
}

enum PemError {
    Parse(jsonwebtoken::errors::Error),
    Weak(usize),
}

impl PemError {
    fn at(self, path: &Path) -> KeyError {
        match self {
            PemError::Parse(source) => KeyError::Parse { path: path.into(), source },
            PemError::Weak(bits) => KeyError::Weak { path: path.into(), bits },
        }
    }
}

/// A new 2048-bit RSA private key, PKCS#8 in PEM.
pub fn generate_pem() -> Result<String, KeyError> {
    use aws_lc_rs::encoding::AsDer;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
    let der = pair.as_der().map_err(|_| KeyError::Generate)?;
    let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_key_signs_every_key_is_published_and_a_kid_finds_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let (new, old) = (dir.path().join("new.pem"), dir.path().join("old.pem"));
        std::fs::write(&new, generate_pem().unwrap()).unwrap();
        std::fs::write(&old, generate_pem().unwrap()).unwrap();
        let keys = ToolKeys::from_files(&[new.clone(), old.clone()]).unwrap();
        let jwks = keys.jwks();
        assert_eq!(jwks.keys.len(), 2);
        let kids: Vec<_> = jwks.keys.iter().map(|k| k.common.key_id.clone().unwrap()).collect();
        assert_eq!(kids[0], keys.current_kid());
        assert_ne!(kids[0], kids[1]);

        let token = keys.sign(&serde_json::json!({"sub": "x", "exp": 4_000_000_000_u64}));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::RS256, Some(kids[0].as_str())));
        let key = DecodingKey::from_jwk(jwks.find(&kids[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            jsonwebtoken::decode(&token, &key, &jsonwebtoken::Validation::new(Algorithm::RS256)).unwrap().claims;
        assert_eq!(claims["sub"], "x");
        // The same file gives the same kid: replicas and restarts agree.
        assert_eq!(ToolKeys::from_files(&[old]).unwrap().current_kid(), kids[1]);
    }

    #[test]
    fn a_missing_key_is_made_once_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lti/tool.pem");
        let first = ToolKeys::load_or_create(&path).unwrap().current_kid().to_owned();
        assert_eq!(ToolKeys::load_or_create(&path).unwrap().current_kid(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a key").unwrap();
        let error = ToolKeys::from_files(&[junk]).err().unwrap().to_string();
        assert!(error.contains("junk.pem") && error.contains("not an RSA private key"), "{error}");
    }
}
