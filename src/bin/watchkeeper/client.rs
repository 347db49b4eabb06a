//! A small HTTP/1.1 client for the operator commands: they talk to a running instance's admin
//! server (plain HTTP, usually on loopback), one request per connection.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// An admin server: its address and the token mutating requests carry.
pub struct Admin {
    host: String,
    port: u16,
    /// The URL's path, which every request's path follows (an admin server behind a proxy that
    /// serves it under `/watchkeeper`, say); empty for none.
    prefix: String,
    token: Option<String>,
    timeout: Duration,
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.body)
            .map_err(|e| format!("the answer is not JSON ({e}): {}", self.body))
    }
}

impl Admin {
    /// The admin server at `url` (`http://host:port`, with a path the requests' paths follow,
    /// as amtool's `--alertmanager.url` has it).
    pub fn new(url: &str, token: Option<String>) -> Result<Admin, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{url}`: the admin server is addressed as http://host:port"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if prefix.contains(['?', '#']) {
            return Err(format!(
                "`{url}`: a query or fragment has no place in the admin server's address"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.trim_matches(['[', ']']).to_owned(),
                p.parse().map_err(|_| format!("`{url}`: bad port"))?,
            ),
            None => (authority.to_owned(), 80),
        };
        Ok(Admin {
            host,
            port,
            prefix: prefix.to_owned(),
            token,
            timeout: Duration::from_secs(60),
        })
    }

    /// Gives up on a request after `timeout` (connecting, and each read); a minute by default.
    pub fn with_timeout(mut self, timeout: Duration) -> Admin {
        self.timeout = timeout;
        self
    }

    /// Sends a request; `body` as JSON when given.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, String> {
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("{}:{}: {e}", self.host, self.port))?
            .next()
            .ok_or_else(|| format!("{}: no address", self.host))?;
        let mut stream =
            TcpStream::connect_timeout(&addr, self.timeout.min(Duration::from_secs(5)))
                .map_err(|e| format!("cannot reach the admin server at {addr}: {e}"))?;
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nAccept: application/json\r\nContent-Length: {}\r\n",
            self.prefix,
            self.host,
            self.port,
            payload.len()
        );
        if body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(payload.as_bytes()))
            .map_err(|e| format!("sending to {addr}: {e}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(|e| format!("reading from {addr}: {e}"))?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{addr} did not answer HTTP"))?;
        let chunked = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("transfer-encoding:")
                && l.to_ascii_lowercase().contains("chunked")
        });
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Ok(Response { status, body })
    }
}

/// The body of a chunked response.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
