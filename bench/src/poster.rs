//! A lean HTTP/1.1 client for the ingest load: one kept-alive connection per worker thread,
//! each request sent with one `writev` (head and body together) and its answer read whole.
//!
//! A general client (ureq) sends a body in 8 KiB writes after the head, and sets the
//! socket's timeouts before each request: ~30 system calls per 131 KiB upload, paid by the
//! client's share of the machine's two cores whichever server is measured. The load
//! generator should cost as little as it can, so that what is timed is the server.

use std::io::{BufRead, BufReader, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::util::Reply;

/// Posts bodies to one URL (`http://host:port/path`) over a kept-alive connection.
pub struct Poster {
    host: String,
    path: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Poster {
    pub fn new(url: &str) -> Result<Poster, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(Poster {
            host: host.to_string(),
            path: path.to_string(),
            conn: None,
        })
    }

    /// Sends one POST; a connection closed by the server in between is opened again once.
    pub fn post(&mut self, content_type: &str, body: &[u8]) -> Reply {
        let reused = self.conn.is_some();
        match self.try_post(content_type, body) {
            Ok(reply) => reply,
            Err(_) if reused => {
                self.conn = None;
                self.try_post(content_type, body).unwrap_or_else(failed)
            }
            Err(e) => failed(e),
        }
    }

    fn try_post(&mut self, content_type: &str, body: &[u8]) -> std::io::Result<Reply> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.host)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(300)))?;
            self.conn = Some(BufReader::with_capacity(16 * 1024, stream));
        }
        let result = self.exchange(content_type, body);
        if result.as_ref().map_or(true, |(_, keep)| !keep) {
            self.conn = None;
        }
        result.map(|(reply, _)| reply)
    }

    /// Writes the request, reads the answer; also says whether the connection stays open.
    fn exchange(&mut self, content_type: &str, body: &[u8]) -> std::io::Result<(Reply, bool)> {
        let conn = self.conn.as_mut().ok_or(std::io::ErrorKind::NotConnected)?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            self.path,
            self.host,
            body.len()
        );
        write_all_vectored(conn.get_mut(), head.as_bytes(), body)?;
        read_reply(conn)
    }
}

fn failed(e: std::io::Error) -> Reply {
    Reply {
        status: 0,
        body: e.to_string().into_bytes(),
    }
}

/// Writes `head` then `body`, in one system call when the socket takes it all.
fn write_all_vectored(stream: &mut TcpStream, head: &[u8], body: &[u8]) -> std::io::Result<()> {
    let (mut head, mut body) = (head, body);
    while !head.is_empty() {
        let n = stream.write_vectored(&[IoSlice::new(head), IoSlice::new(body)])?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = &head[from_head..];
        body = &body[n - from_head..];
    }
    stream.write_all(body)
}

/// Reads a status line, headers and a body (by Content-Length, chunked, or up to the close).
fn read_reply(conn: &mut BufReader<TcpStream>) -> std::io::Result<(Reply, bool)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut line = String::new();
    conn.read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut keep_alive = line.starts_with("HTTP/1.1");
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" if value.eq_ignore_ascii_case("close") => keep_alive = false,
            "connection" if value.eq_ignore_ascii_case("keep-alive") => keep_alive = true,
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    conn.read_line(&mut line)?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            conn.read_exact(&mut body[start..])?;
            line.clear();
            conn.read_line(&mut line)?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        conn.read_exact(&mut body)?;
    } else {
        conn.read_to_end(&mut body)?;
        keep_alive = false;
    }
    Ok((Reply { status, body }, keep_alive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server answering two requests on one connection, the second with a chunked body and
    /// `Connection: close`; then a third request on a new connection.
    #[test]
    fn posts_over_a_kept_alive_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for answers in [2, 1] {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                for i in 0..answers {
                    let mut length = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.strip_prefix("Content-Length: ") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    bodies.push(body);
                    let mut w = &stream;
                    if answers == 2 && i == 1 {
                        w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\n{\"a\r\n2\r\n\":\r\n1\r\n1\r\n1\r\n}\r\n0\r\n\r\n").unwrap();
                    } else {
                        w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                            .unwrap();
                    }
                }
            }
            bodies
        });
        let mut poster = Poster::new(&format!("http://{addr}/instances")).unwrap();
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let first = poster.post("application/dicom", &big);
        assert_eq!((first.status, first.body.as_slice()), (200, &b"{}"[..]));
        let second = poster.post("application/dicom", b"small");
        assert_eq!(second.body, br#"{"a":1}"#);
        assert!(poster.conn.is_none(), "closed as the server asked");
        let third = poster.post("application/dicom", b"third");
        assert_eq!(third.status, 200);
        let bodies = server.join().unwrap();
        assert_eq!(bodies, vec![big, b"small".to_vec(), b"third".to_vec()]);
    }
}
