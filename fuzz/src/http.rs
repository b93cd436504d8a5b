//! `http_upgrade`: the bytes a client sends before the WebSocket handshake completes (the input is the
//! request as read, possibly followed by the first frames).
//!
//! Checked: an accepted request is accepted again from exactly its head's bytes, and every shorter prefix
//! of the head asks for more; it names a served path and builds a valid response. A lower size limit gives
//! the same result or `TooLarge`. A refusal builds an HTTP response whose `Content-Length` is right.

use switchyard::transport::websocket::handshake::{self, Rejection};

/// The default `max_handshake_size`.
const MAX_SIZE: usize = 16 << 10;

pub fn run(data: &[u8]) {
    let result = handshake::parse_request(data, MAX_SIZE);
    match &result {
        Ok(Some(req)) => {
            assert!(req.head_len <= data.len() && req.head_len <= MAX_SIZE);
            assert!(handshake::PATHS.contains(&req.path.as_str()), "{:?}", req.path);
            let exact = data.get(..req.head_len).unwrap_or_default();
            assert_eq!(handshake::parse_request(exact, MAX_SIZE), result, "from exactly the head's bytes");
            for cut in [req.head_len - 1, req.head_len / 2, data.len() % req.head_len] {
                let prefix = data.get(..cut).unwrap_or_default();
                assert_eq!(handshake::parse_request(prefix, MAX_SIZE), Ok(None), "a {cut}-byte prefix");
            }
            assert_eq!(handshake::accept_key(&req.key).len(), 28);
            let response = handshake::accept_response(req);
            assert!(response.starts_with(b"HTTP/1.1 101 ") && response.ends_with(b"\r\n\r\n"));
        }
        Ok(None) => assert!(data.len() < MAX_SIZE),
        Err(rejection) => check_response(rejection),
    }
    // A lower limit: the same result, or too large.
    let limit = data.len() * 3 / 4;
    let limited = handshake::parse_request(data, limit);
    assert!(
        limited == result || limited == Err(Rejection::TooLarge),
        "limit {limit}: {limited:?} where {MAX_SIZE} gives {result:?}"
    );
}

fn check_response(rejection: &Rejection) {
    let response = rejection.response();
    let text = String::from_utf8(response).expect("responses are text");
    let status = rejection.status();
    assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())), "{text}");
}
