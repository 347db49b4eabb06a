//! The admin HTTP server on arbitrary bytes: each input is sent as-is to a live server on 127.0.0.1;
//! afterwards the server must still answer `GET /health/live` with 200 and the runtime its health.
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use watchkeeper::config::Secret;
use watchkeeper::{Config, Runtime};

fn server() -> SocketAddr {
    static SERVER: OnceLock<(Runtime, SocketAddr)> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let mut c = Config::default();
            c.deployment.health_check_port = 0;
            c.deployment.admin_token = Some(Secret::Value("fuzz-token".into()));
            let rt = Runtime::start(c).expect("runtime starts");
            let addr = rt.admin_addr().expect("admin server");
            (rt, addr)
        })
        .1
}

fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return Vec::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.take(1 << 20).read_to_end(&mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let addr = server();
    exchange(addr, data);
    let live = exchange(
        addr,
        b"GET /health/live HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n",
    );
    assert!(
        live.starts_with(b"HTTP/1.1 200"),
        "the admin server stopped answering: {:?}",
        String::from_utf8_lossy(&live)
    );
});
