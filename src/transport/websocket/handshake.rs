//! The server side of the RFC 6455 opening handshake (section 4.2), sans-I/O: parse and validate the HTTP
//! upgrade request, negotiate the WAMP subprotocol (section 2.3.1) and build the `101 Switching Protocols`
//! response or a plain-text HTTP error response explaining the refusal.

use std::fmt;

use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::wamp::codec::Serializer;

/// The GUID appended to the client's key to compute `Sec-WebSocket-Accept` (RFC 6455 section 1.3).
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The request paths that serve WAMP over WebSocket.
pub const PATHS: [&str; 2] = ["/", "/ws"];

/// The most header lines a request may have; more is answered like an oversized request (431).
const MAX_HEADERS: usize = 64;

/// A valid WAMP WebSocket upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request path without its query string (one of [`PATHS`]).
    pub path: String,
    /// The client's `Sec-WebSocket-Key`.
    pub key: String,
    /// The first subprotocol in the client's list that we support.
    pub serializer: Serializer,
    /// The length of the request head: bytes after it belong to the WebSocket stream.
    pub head_len: usize,
}

/// Why an upgrade request is refused; each maps to an HTTP error response ([`Rejection::response`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// 431: the request head exceeds the size limit or has too many header lines.
    TooLarge,
    /// 400: not a well-formed HTTP/1.1 request, or a bad `Sec-WebSocket-Key`.
    Malformed(&'static str),
    /// 405: not a GET.
    MethodNotAllowed,
    /// 404: a path outside [`PATHS`].
    NotFound,
    /// 426: a plain HTTP request, without `Upgrade: websocket` and `Connection: upgrade`.
    NotUpgrade,
    /// 426: a `Sec-WebSocket-Version` other than 13.
    UnsupportedVersion,
    /// 400: none of the WAMP subprotocols was offered.
    NoSubprotocol,
}

fn subprotocol_list() -> String {
    Serializer::ALL.iter().map(|s| s.ws_subprotocol()).collect::<Vec<_>>().join(", ")
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::TooLarge => 431,
            Rejection::Malformed(_) | Rejection::NoSubprotocol => 400,
            Rejection::MethodNotAllowed => 405,
            Rejection::NotFound => 404,
            Rejection::NotUpgrade | Rejection::UnsupportedVersion => 426,
        }
    }

    fn reason_phrase(&self) -> &'static str {
        match self {
            Rejection::TooLarge => "Request Header Fields Too Large",
            Rejection::Malformed(_) | Rejection::NoSubprotocol => "Bad Request",
            Rejection::MethodNotAllowed => "Method Not Allowed",
            Rejection::NotFound => "Not Found",
            Rejection::NotUpgrade | Rejection::UnsupportedVersion => "Upgrade Required",
        }
    }

    /// Extra response header lines (each ending in CRLF).
    fn extra_headers(&self) -> &'static str {
        match self {
            Rejection::MethodNotAllowed => "Allow: GET\r\n",
            Rejection::NotUpgrade => "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            Rejection::UnsupportedVersion => "Sec-WebSocket-Version: 13\r\n",
            _ => "",
        }
    }

    /// The complete HTTP response: status line, headers and a plain-text body; the connection is closed
    /// after it.
    pub fn response(&self) -> Vec<u8> {
        let body = format!("{self}\n");
        format!(
            "HTTP/1.1 {} {}\r\n{}Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.status(),
            self.reason_phrase(),
            self.extra_headers(),
            body.len(),
            body
        )
        .into_bytes()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::TooLarge => f.write_str("the WebSocket upgrade request is too large"),
            Rejection::Malformed(why) => write!(f, "bad WebSocket upgrade request: {why}"),
            Rejection::MethodNotAllowed => {
                f.write_str("only GET requests upgrading to WebSocket are served here")
            }
            Rejection::NotFound => {
                let paths = PATHS.join(" and ");
                write!(f, "not found: WAMP over WebSocket is served on {paths}")
            }
            Rejection::NotUpgrade => {
                let protocols = subprotocol_list();
                write!(
                    f,
                    "this is a WAMP router: connect with a WebSocket client offering one of the \
                     subprotocols {protocols}"
                )
            }
            Rejection::UnsupportedVersion => {
                f.write_str("unsupported WebSocket version: only version 13 (RFC 6455) is supported")
            }
            Rejection::NoSubprotocol => {
                let protocols = subprotocol_list();
                write!(
                    f,
                    "no supported WebSocket subprotocol offered: a WAMP client must offer one of \
                     {protocols} in Sec-WebSocket-Protocol"
                )
            }
        }
    }
}

/// The values of every header named `name` (case-insensitive).
fn header_values<'h>(
    headers: &'h [httparse::Header<'_>],
    name: &'h str,
) -> impl Iterator<Item = &'h [u8]> + 'h {
    headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
}

/// The comma-separated tokens of every header named `name`, trimmed, empty ones skipped.
fn header_tokens<'h>(
    headers: &'h [httparse::Header<'_>],
    name: &'h str,
) -> impl Iterator<Item = &'h str> + 'h {
    header_values(headers, name)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    header_tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Parses the upgrade request at the front of `bytes`. `Ok(None)`: incomplete, read more. A request head
/// longer than `max_size` bytes is refused with [`Rejection::TooLarge`] (as soon as `max_size` bytes are in
/// without a complete head).
pub fn parse_request(bytes: &[u8], max_size: usize) -> Result<Option<UpgradeRequest>, Rejection> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) if n <= max_size => n,
        Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders) => {
            return Err(Rejection::TooLarge)
        }
        Ok(httparse::Status::Partial) if bytes.len() >= max_size => return Err(Rejection::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Rejection::Malformed("not a valid HTTP request")),
    };
    if req.method != Some("GET") {
        return Err(Rejection::MethodNotAllowed);
    }
    if req.version != Some(1) {
        return Err(Rejection::Malformed("HTTP/1.1 is required"));
    }
    let target = req.path.unwrap_or_default();
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if !PATHS.contains(&path) {
        return Err(Rejection::NotFound);
    }
    let headers = req.headers;
    if !has_token(headers, "upgrade", "websocket") || !has_token(headers, "connection", "upgrade") {
        return Err(Rejection::NotUpgrade);
    }
    let mut versions = header_values(headers, "sec-websocket-version");
    if versions.next().map(<[u8]>::trim_ascii) != Some(b"13") || versions.next().is_some() {
        return Err(Rejection::UnsupportedVersion);
    }
    let mut keys = header_values(headers, "sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) => key.trim_ascii(),
        _ => return Err(Rejection::Malformed("exactly one Sec-WebSocket-Key is required")),
    };
    let valid_key = base64::engine::general_purpose::STANDARD.decode(key).is_ok_and(|k| k.len() == 16);
    let key = match std::str::from_utf8(key) {
        Ok(key) if valid_key => key,
        _ => return Err(Rejection::Malformed("Sec-WebSocket-Key must be 16 bytes in base64")),
    };
    let serializer = header_tokens(headers, "sec-websocket-protocol")
        .find_map(Serializer::from_ws_subprotocol)
        .ok_or(Rejection::NoSubprotocol)?;
    Ok(Some(UpgradeRequest { path: path.to_owned(), key: key.to_owned(), serializer, head_len }))
}

/// `Sec-WebSocket-Accept` for a client key: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// The `101 Switching Protocols` response accepting `req`.
pub fn accept_response(req: &UpgradeRequest) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        accept_key(&req.key),
        req.serializer.ws_subprotocol()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(path: &str, extra: &str) -> String {
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    fn parse(req: &str) -> Result<Option<UpgradeRequest>, Rejection> {
        parse_request(req.as_bytes(), 16 << 10)
    }

    #[test]
    fn rfc6455_accept_key_example() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn accepts_valid_request() {
        let req = request("/ws", "Sec-WebSocket-Protocol: wamp.2.json\r\n");
        let parsed = parse(&req).unwrap().unwrap();
        assert_eq!(parsed.path, "/ws");
        assert_eq!(parsed.key, KEY);
        assert_eq!(parsed.serializer, Serializer::Json);
        assert_eq!(parsed.head_len, req.len());
        let resp = String::from_utf8(accept_response(&parsed)).unwrap();
        assert!(resp.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(resp.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(resp.contains("\r\nSec-WebSocket-Protocol: wamp.2.json\r\n"));
        assert!(resp.contains("\r\nUpgrade: websocket\r\n"));
        assert!(resp.ends_with("\r\n\r\n"));
    }

    #[test]
    fn paths_and_query_strings() {
        let proto = "Sec-WebSocket-Protocol: wamp.2.cbor\r\n";
        assert_eq!(parse(&request("/", proto)).unwrap().unwrap().path, "/");
        assert_eq!(parse(&request("/ws?token=x", proto)).unwrap().unwrap().path, "/ws");
        for path in ["/foo", "/ws/", "/wss", "*"] {
            assert_eq!(parse(&request(path, proto)), Err(Rejection::NotFound), "{path}");
        }
    }

    #[test]
    fn first_supported_subprotocol_in_client_order() {
        let cases = [
            ("wamp.2.msgpack, wamp.2.json", Serializer::MsgPack),
            ("wamp.2.json.batched,wamp.2.cbor , wamp.2.json", Serializer::Cbor),
            ("mqtt\r\nsec-websocket-protocol: wamp.2.json", Serializer::Json),
            (",, wamp.2.msgpack\r\nSec-WebSocket-Protocol: wamp.2.json", Serializer::MsgPack),
        ];
        for (offer, expected) in cases {
            let req = request("/", &format!("Sec-WebSocket-Protocol: {offer}\r\n"));
            assert_eq!(parse(&req).unwrap().unwrap().serializer, expected, "{offer}");
        }
    }

    #[test]
    fn no_supported_subprotocol() {
        for extra in
            ["", "Sec-WebSocket-Protocol: mqtt, wamp.1.json\r\n", "Sec-WebSocket-Protocol: WAMP.2.JSON\r\n"]
        {
            assert_eq!(parse(&request("/", extra)), Err(Rejection::NoSubprotocol), "{extra}");
        }
        let resp = String::from_utf8(Rejection::NoSubprotocol.response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(resp.contains("wamp.2.json, wamp.2.msgpack, wamp.2.cbor"));
        assert!(resp.contains("Content-Type: text/plain"));
    }

    #[test]
    fn header_names_and_tokens_are_case_insensitive() {
        let req = format!(
            "GET / HTTP/1.1\r\nhost: x\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, Upgrade\r\n\
             sec-websocket-key: {KEY}\r\nSEC-WEBSOCKET-VERSION: 13\r\n\
             sec-websocket-protocol: wamp.2.json\r\n\r\n"
        );
        assert_eq!(parse(&req).unwrap().unwrap().serializer, Serializer::Json);
    }

    #[test]
    fn incomplete_request_needs_more() {
        let req = request("/", "Sec-WebSocket-Protocol: wamp.2.json\r\n");
        for cut in [0, 1, 10, req.len() - 1] {
            assert_eq!(parse(&req[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn bytes_after_the_head_are_not_part_of_it() {
        let req = request("/", "Sec-WebSocket-Protocol: wamp.2.json\r\n");
        let mut bytes = req.clone().into_bytes();
        bytes.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
        assert_eq!(parse_request(&bytes, 16 << 10).unwrap().unwrap().head_len, req.len());
    }

    #[test]
    fn too_large() {
        let big = format!("X-Padding: {}\r\n", "a".repeat(200));
        let req = request("/", &format!("{big}Sec-WebSocket-Protocol: wamp.2.json\r\n"));
        assert_eq!(parse_request(req.as_bytes(), 200), Err(Rejection::TooLarge));
        // Incomplete but already at the limit.
        assert_eq!(parse_request(&req.as_bytes()[..200], 200), Err(Rejection::TooLarge));
        // Complete head longer than the limit.
        assert_eq!(parse_request(req.as_bytes(), req.len() - 1), Err(Rejection::TooLarge));
        assert!(parse_request(req.as_bytes(), req.len()).unwrap().is_some());
        // Too many header lines.
        let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(parse(&request("/", &many)), Err(Rejection::TooLarge));
        let resp = String::from_utf8(Rejection::TooLarge.response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    }

    #[test]
    fn plain_http_get_gets_426() {
        let req = "GET / HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
        assert_eq!(parse(req), Err(Rejection::NotUpgrade));
        let only_upgrade = "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\r\n";
        assert_eq!(parse(only_upgrade), Err(Rejection::NotUpgrade));
        let resp = String::from_utf8(Rejection::NotUpgrade.response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(resp.contains("\r\nUpgrade: websocket\r\n"));
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(body.contains("WebSocket"));
    }

    #[test]
    fn method_version_and_syntax() {
        let post = request("/", "Sec-WebSocket-Protocol: wamp.2.json\r\n").replacen("GET", "POST", 1);
        assert_eq!(parse(&post), Err(Rejection::MethodNotAllowed));
        assert!(String::from_utf8(Rejection::MethodNotAllowed.response())
            .unwrap()
            .contains("\r\nAllow: GET\r\n"));
        let http10 =
            request("/", "Sec-WebSocket-Protocol: wamp.2.json\r\n").replacen("HTTP/1.1", "HTTP/1.0", 1);
        assert!(matches!(parse(&http10), Err(Rejection::Malformed(_))));
        assert!(matches!(parse("GET / HTTP/1.1\r\nBad Header\r\n\r\n"), Err(Rejection::Malformed(_))));
        assert!(matches!(parse("\x16\x03\x01\x02\x00\x01\x00\x01"), Err(Rejection::Malformed(_))));
    }

    #[test]
    fn websocket_version_must_be_13() {
        for version in ["8", "", "13, 8"] {
            let req = request("/", "Sec-WebSocket-Protocol: wamp.2.json\r\n")
                .replace("Version: 13", &format!("Version: {version}"));
            assert_eq!(parse(&req), Err(Rejection::UnsupportedVersion), "{version:?}");
        }
        let missing = request("/", "Sec-WebSocket-Protocol: wamp.2.json\r\n")
            .replace("Sec-WebSocket-Version: 13\r\n", "");
        assert_eq!(parse(&missing), Err(Rejection::UnsupportedVersion));
        let resp = String::from_utf8(Rejection::UnsupportedVersion.response()).unwrap();
        assert!(resp.starts_with("HTTP/1.1 426 ") && resp.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    }

    #[test]
    fn websocket_key_must_be_16_bytes_base64() {
        for bad in ["", "not base64!", "dGhlIHNhbXBsZQ==", "dGhlIHNhbXBsZSBub25jZSBsb25nZXI="] {
            let req = request("/", "Sec-WebSocket-Protocol: wamp.2.json\r\n").replace(KEY, bad);
            assert!(matches!(parse(&req), Err(Rejection::Malformed(_))), "{bad:?}");
        }
        let missing = request("/", "Sec-WebSocket-Protocol: wamp.2.json\r\n")
            .replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "");
        assert!(matches!(parse(&missing), Err(Rejection::Malformed(_))));
        let twice =
            request("/", &format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Protocol: wamp.2.json\r\n"));
        assert!(matches!(parse(&twice), Err(Rejection::Malformed(_))));
    }
}
