//! A lean HTTP/1.1 keep-alive client for the benchmarks: one task, one
//! socket, requests written as prepared bytes and responses read by their
//! `Content-Length`. It costs the load generator a write and a read per
//! request, with no pool, no connection task and no header map, so that on a
//! shared 2-core box the generator's CPU goes to the server under test
//! instead. A browser also keeps its connection open between batches.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The raw bytes of one `POST` with a bearer token and a JSON body.
pub fn post_json(host: &str, path: &str, token: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// One kept-alive connection; reconnects when the server closed it.
pub struct Connection {
    address: String,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl Connection {
    pub fn new(address: &str) -> Self {
        Self { address: address.to_owned(), stream: None, buffer: Vec::with_capacity(4096) }
    }

    /// Sends a prepared request and reads its whole response; the status.
    /// A connection the server closed before answering is retried once on a
    /// fresh one (keep-alive's usual race), anything else is an error.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<u16> {
        let reused = self.stream.is_some();
        match self.try_send(request).await {
            Err(e) if reused && is_closed(&e) => {
                self.stream = None;
                self.try_send(request).await
            }
            other => other,
        }
    }

    async fn try_send(&mut self, request: &[u8]) -> io::Result<u16> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        let answer = async {
            stream.write_all(request).await?;
            read_response(stream, &mut self.buffer).await
        };
        let result = answer.await;
        match &result {
            Ok((_, keep_alive)) if *keep_alive => {}
            _ => self.stream = None,
        }
        result.map(|(status, _)| status)
    }
}

fn is_closed(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
}

/// Reads one response: (status, whether the connection stays open).
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<(u16, bool)> {
    buffer.clear();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response.parse(buffer).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if let httparse::Status::Complete(head) = parsed {
            let status = response.code.unwrap_or(0);
            let header =
                |name: &str| response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
            let length: usize = header("content-length")
                .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "response without content-length"))?;
            let keep_alive = !header("connection").is_some_and(|v| v.eq_ignore_ascii_case(b"close"));
            while buffer.len() < head + length {
                read_more(stream, buffer).await?;
            }
            return Ok((status, keep_alive));
        }
        read_more(stream, buffer).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> io::Result<()> {
    buffer.reserve(4096);
    if stream.read_buf(buffer).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server answering two requests on one connection, then closing it:
    /// both answers are read whole, and the third request reconnects.
    #[tokio::test]
    async fn keeps_the_connection_and_reconnects_after_a_close() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let mut accepted = 0;
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                accepted += 1;
                for answer in 0..2 {
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") || !seen.ends_with(b"{}") {
                        let mut chunk = [0u8; 1024];
                        let n = socket.read(&mut chunk).await.unwrap();
                        if n == 0 {
                            return accepted;
                        }
                        seen.extend_from_slice(&chunk[..n]);
                    }
                    let last = answer == 1;
                    let reply = format!(
                        "HTTP/1.1 {}\r\ncontent-length: 5\r\n{}\r\nhello",
                        if last { "503 Service Unavailable" } else { "202 Accepted" },
                        if last { "connection: close\r\n" } else { "" }
                    );
                    socket.write_all(reply.as_bytes()).await.unwrap();
                }
                if accepted == 2 {
                    return accepted;
                }
            }
        });
        let request = post_json("test", "/api/v1/events", "t", b"{}");
        let mut connection = Connection::new(&address);
        assert_eq!(connection.send(&request).await.unwrap(), 202);
        assert_eq!(connection.send(&request).await.unwrap(), 503);
        assert!(connection.stream.is_none(), "a `connection: close` answer drops the socket");
        assert_eq!(connection.send(&request).await.unwrap(), 202);
        drop(connection);
        assert_eq!(server.await.unwrap(), 2);
    }
}
