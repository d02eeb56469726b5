//! TLS as production has it, made by the test: a CA and a server
//! certificate for 127.0.0.1 / localhost made with the `openssl` command,
//! and stunnel (Debian's `stunnel4`) terminating TLS in front of a plaintext
//! service — the way a managed Kafka or ClickHouse Cloud is reached.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A CA and a server certificate it signed, as PEM files in a folder.
pub struct TestPki {
    /// The CA certificate clients trust.
    pub ca: PathBuf,
    /// The server's certificate and key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl command runs");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

impl TestPki {
    /// Makes a CA named `name` and a server certificate for `127.0.0.1` and
    /// `localhost` in `dir` (EC P-256 keys: fast to make).
    pub fn create(dir: &Path, name: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let file = |suffix: &str| format!("{name}-{suffix}");
        let subject = format!("/CN=invigil test CA {name}");
        openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &file("ca.key")]);
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &file("ca.key"),
                "-subj",
                &subject,
                "-days",
                "2",
                "-out",
                &file("ca.pem"),
            ],
        );
        openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &file("server.key")]);
        openssl(
            dir,
            &["req", "-new", "-key", &file("server.key"), "-subj", "/CN=localhost", "-out", &file("server.csr")],
        );
        std::fs::write(
            dir.join(file("server.ext")),
            "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &file("server.csr"),
                "-CA",
                &file("ca.pem"),
                "-CAkey",
                &file("ca.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &file("server.ext"),
                "-out",
                &file("server.pem"),
            ],
        );
        Self {
            ca: dir.join(file("ca.pem")),
            server_cert: dir.join(file("server.pem")),
            server_key: dir.join(file("server.key")),
        }
    }
}

/// stunnel accepting TLS on a loopback port and forwarding plaintext to
/// another; stopped when dropped.
pub struct Stunnel {
    pub port: u16,
    _child: crate::process::Killed,
}

impl Stunnel {
    /// TLS on `port` (with `pki`'s server certificate) to `127.0.0.1:target`;
    /// returns once it listens.
    pub fn start(dir: &Path, pki: &TestPki, port: u16, target: u16) -> Self {
        let config = dir.join(format!("stunnel-{port}.conf"));
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\ndebug = 4\noutput = {log}\n[service]\naccept = 127.0.0.1:{port}\n\
                 connect = 127.0.0.1:{target}\ncert = {cert}\nkey = {key}\n",
                log = dir.join(format!("stunnel-{port}.log")).display(),
                cert = pki.server_cert.display(),
                key = pki.server_key.display(),
            ),
        )
        .unwrap();
        let binary = ["stunnel4", "stunnel"]
            .into_iter()
            .find(|b| {
                Command::new("sh").args(["-c", &format!("command -v {b}")]).output().is_ok_and(|o| o.status.success())
            })
            .expect("stunnel is not installed; run `ops/dev/services.sh install`");
        let child = Command::new(binary)
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stunnel = Self { port, _child: crate::process::Killed(child) };
        assert!(
            invigil_tansu::wait_until_answers(([127, 0, 0, 1], port).into(), Duration::from_secs(10)),
            "stunnel did not listen on {port} within 10 s (log in {})",
            dir.display()
        );
        stunnel
    }
}
