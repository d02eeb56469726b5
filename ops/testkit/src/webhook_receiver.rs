//! A webhook receiver for tests: a real HTTP/1.1 server on 127.0.0.1 that
//! answers each request as a script says (a status, or no answer for a
//! while) and keeps every request it saw, headers and body, for the test to
//! verify (signatures with an independent library, ids, counts).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How to answer one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Say nothing for this long, then close the connection.
    Hang(Duration),
}

/// One request as received, and how it was answered.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub answer: Answer,
}

type Script = Arc<dyn Fn(usize, &Received) -> Answer + Send + Sync>;

/// The running receiver; stops with the runtime it was started on.
#[derive(Clone)]
pub struct Receiver {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Starts on a free port; `script(n, request)` answers the `n`th
    /// request (0-based).
    pub async fn start(script: impl Fn(usize, &Received) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let shared = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                tokio::spawn(serve(stream, Arc::clone(&shared), Arc::clone(&script)));
            }
        });
        Self { address, seen }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.address)
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(mut stream: TcpStream, seen: Arc<Mutex<Vec<Received>>>, script: Script) {
    let mut buffer = Vec::new();
    loop {
        // The head.
        let head_end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        let headers: HashMap<String, String> = head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let body_start = head_end + 4;
        while buffer.len() < body_start + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buffer[body_start..body_start + length].to_vec();
        buffer.drain(..body_start + length);
        let mut received = Received { headers, body, answer: Answer::Status(0) };
        let answer = {
            let mut seen = seen.lock().unwrap();
            let answer = script(seen.len(), &received);
            received.answer = answer;
            seen.push(received);
            answer
        };
        match answer {
            Answer::Status(status) => {
                let reply = format!("HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\n\r\n");
                if stream.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
            Answer::Hang(time) => {
                tokio::time::sleep(time).await;
                return;
            }
        }
    }
}
