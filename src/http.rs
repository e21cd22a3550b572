//! A plain HTTP/1.0 GET to a port on this host: enough to ask whether a published port
//! answers (the web after its start, the doctor's round-trips), without an HTTP client.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// An HTTP/1.0 GET on localhost: the status and the time to the whole response, in ms.
pub(crate) fn get(port: u16, path: &str, timeout: Duration) -> Result<(u16, f64), String> {
    let started = Instant::now();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    // HTTP/1.0: the server closes the connection at the end of the response.
    stream
        .take(1 << 20)
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP response: `{}`",
                head.lines().next().unwrap_or("")
            )
        })?;
    Ok((status, ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_reads_the_status_and_a_closed_port_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(b"HTTP/1.0 404 Not Found\r\n\r\nno").unwrap();
        });
        let (status, ms) = get(port, "/xiaozhi/ota/", Duration::from_secs(2)).unwrap();
        server.join().unwrap();
        assert_eq!(status, 404);
        assert!(ms >= 0.0);
        drop(std::net::TcpListener::bind("127.0.0.1:0"));
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(get(closed, "/", Duration::from_secs(1)).is_err());
    }
}
