//! hoody-echo's tests: request framing, the routes, base64, SHA-1 and the WebSocket handshake.

use super::*;
use std::net::SocketAddr;

fn sha256_hex(data: &[u8]) -> String {
    let mut s = Sha256::new();
    s.update(data);
    hex(&s.finish())
}

#[test]
fn sha1_vectors() {
    assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        hex(&sha1(b"abc")),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(
        hex(&sha1(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
    );
}

#[test]
fn sha256_vectors() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    // A million 'a's, fed in uneven pieces to exercise the partial-block path.
    let mut s = Sha256::new();
    let a = vec![b'a'; 1_000_000];
    let mut rest = &a[..];
    for piece in [1, 63, 64, 65, 127, 1000, 4096].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let n = (*piece).min(rest.len());
        s.update(&rest[..n]);
        rest = &rest[n..];
    }
    assert_eq!(
        hex(&s.finish()),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

#[test]
fn base64_vectors() {
    let vectors: [(&[u8], &str); 7] = [
        (b"", ""),
        (b"f", "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg=="),
        (b"fooba", "Zm9vYmE="),
        (b"foobar", "Zm9vYmFy"),
    ];
    for (plain, encoded) in vectors {
        assert_eq!(base64_encode(plain), encoded);
        assert_eq!(base64_decode(encoded).as_deref(), Some(plain));
    }
    for bad in ["Zg=", "Zg==Zg==", "Z===", "Zm9*", "Zm9vY"] {
        assert_eq!(base64_decode(bad), None, "{bad}");
    }
}

#[test]
fn websocket_accept_rfc6455_example() {
    assert_eq!(
        websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn frame_round_trip() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        for mask in [None, Some([0x12, 0x34, 0x56, 0x78])] {
            for (fin, opcode) in [(true, OP_TEXT), (false, OP_BINARY), (true, OP_CONTINUATION)] {
                let bytes = encode_frame(fin, opcode, &payload, mask);
                let header = match len {
                    0..=125 => 2,
                    126..=65535 => 4,
                    _ => 10,
                } + if mask.is_some() { 4 } else { 0 };
                assert_eq!(bytes.len(), header + len);
                let mut r = &bytes[..];
                let frame = read_frame(&mut r, u64::MAX >> 1)
                    .expect("valid frame")
                    .expect("not end of stream");
                assert_eq!(
                    frame,
                    Frame {
                        fin,
                        rsv: 0,
                        opcode,
                        mask,
                        payload: payload.clone()
                    }
                );
                assert!(r.is_empty());
            }
        }
    }
    assert!(matches!(read_frame(&mut &b""[..], 10), Ok(None)));
    let big = encode_frame(true, OP_BINARY, &[0; 11], None);
    assert!(matches!(
        read_frame(&mut &big[..], 10),
        Err(WsError::TooBig)
    ));
}

#[test]
fn source_is_deterministic_and_chunking_independent() {
    let mut one = vec![0u8; 1003];
    Source::new(5).fill(&mut one);
    let mut two = vec![0u8; 1003];
    let mut generator = Source::new(5);
    generator.fill(&mut two[..512]);
    generator.fill(&mut two[512..]);
    assert_eq!(one, two);
    let mut other = vec![0u8; 1003];
    Source::new(6).fill(&mut other);
    assert_ne!(one, other);
    assert_eq!(hex(&source_sha256(1003, 5)), sha256_hex(&one));
}

#[test]
fn chunked_body_decoding() {
    let wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
    let mut r = BufReader::new(&wire[..]);
    let mut out = Vec::new();
    Body::new(&mut r, Framing::Chunked)
        .read_to_end(&mut out)
        .expect("valid chunked body");
    assert_eq!(out, b"hello world");
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("rest");
    assert_eq!(rest, b"NEXT");
    let bad = b"5\r\nhelloXX\r\n0\r\n\r\n";
    let mut r = BufReader::new(&bad[..]);
    assert!(
        Body::new(&mut r, Framing::Chunked)
            .read_to_end(&mut Vec::new())
            .is_err()
    );
}

fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || serve(listener, Config::default()));
    addr
}

struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Client {
            w: stream.try_clone().expect("clone"),
            r: BufReader::new(stream),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("send");
    }

    fn response(&mut self) -> Response {
        let line = read_line(&mut self.r, MAX_LINE)
            .expect("status line")
            .expect("a response");
        let line = String::from_utf8(line).expect("utf-8 status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let mut headers = Vec::new();
        loop {
            let line = read_line(&mut self.r, MAX_LINE)
                .expect("header")
                .expect("header");
            if line.is_empty() {
                break;
            }
            headers.push(parse_header_line(&line).expect("header line"));
        }
        let mut body = Vec::new();
        if status != 101 {
            let framing = body_framing(&headers).expect("framing");
            Body::new(&mut self.r, framing)
                .read_to_end(&mut body)
                .expect("body");
        }
        Response {
            status,
            headers,
            body,
        }
    }

    fn get(&mut self, target: &str) -> Response {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.response()
    }

    fn frame(&mut self) -> Frame {
        read_frame(&mut self.r, u64::MAX >> 1)
            .expect("frame")
            .expect("not end of stream")
    }
}

#[test]
fn serves_http_routes_over_one_keep_alive_connection() {
    let addr = start_server();
    let mut c = Client::connect(addr);

    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, HELLO);
    assert_eq!(r.header("content-length"), Some("22"));
    assert_eq!(c.get("/some/unknown?x=1").body, HELLO);

    c.send(b"GET /headers HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-For:  10.1.2.3\r\n\r\n");
    let r = c.response();
    let text = String::from_utf8(r.body).expect("utf-8");
    let local = c.w.local_addr().expect("local addr");
    assert_eq!(
        text,
        format!("peer: {local}\nHost: example.test\nX-Forwarded-For:  10.1.2.3\n")
    );

    // A chunked upload, announced with Expect: 100-continue.
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    c.send(
        b"POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(c.response().status, 100);
    for piece in data.chunks(70_001) {
        c.send(format!("{:x};x=y\r\n", piece.len()).as_bytes());
        c.send(piece);
        c.send(b"\r\n");
    }
    c.send(b"0\r\nTrailer: 1\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8(r.body).expect("utf-8"),
        format!("{} {}\n", data.len(), sha256_hex(&data))
    );

    // A Content-Length upload with PUT.
    c.send(b"PUT /sink HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(
        c.response().body,
        b"3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
    );

    let r = c.get("/source?bytes=100003&seed=42");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("100003"));
    assert_eq!(r.body.len(), 100_003);
    let sha = c.get("/source-sha?bytes=100003&seed=42");
    assert_eq!(sha.body, format!("{}\n", sha256_hex(&r.body)).into_bytes());
    let chunked = c.get("/source?bytes=100003&seed=42&chunked=1");
    assert_eq!(chunked.header("transfer-encoding"), Some("chunked"));
    assert_eq!(chunked.body, r.body);
    assert_eq!(c.get("/source?bytes=0").body, b"");
    assert_eq!(c.get("/source?bytes=x").status, 400);

    assert_eq!(c.get("/slow?ms=20").body, b"slow\n");
    assert_eq!(c.get("/sink").status, 405);

    c.send(b"HEAD /source?bytes=10 HTTP/1.1\r\nHost: t\r\n\r\n");
    // HEAD has no body whatever Content-Length says: read the head only.
    let line = read_line(&mut c.r, MAX_LINE).expect("line").expect("line");
    assert_eq!(line, b"HTTP/1.1 200 OK");
    while !read_line(&mut c.r, MAX_LINE)
        .expect("line")
        .expect("line")
        .is_empty()
    {}

    c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().header("connection"), Some("close"));
    let mut rest = Vec::new();
    c.r.read_to_end(&mut rest).expect("end of stream");
    assert!(rest.is_empty());

    let mut c = Client::connect(addr);
    c.send(b"GARBAGE\r\n\r\n");
    assert_eq!(c.response().status, 400);
}

#[test]
fn echoes_websocket_messages() {
    let addr = start_server();
    let mut c = Client::connect(addr);
    let bad = "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Version: 13\r\n\r\n";
    c.send(bad.as_bytes());
    assert_eq!(c.response().status, 400);

    c.send(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.status, 101);
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );

    let mask = Some([1, 2, 3, 4]);
    c.send(&encode_frame(true, OP_TEXT, b"hello", mask));
    let f = c.frame();
    assert_eq!(
        (f.fin, f.opcode, f.mask, &f.payload[..]),
        (true, OP_TEXT, None, &b"hello"[..])
    );

    // A fragmented binary message (7-, 16- and 64-bit lengths) with a ping in the middle.
    let data: Vec<u8> = (0..70_500u32).map(|i| (i % 241) as u8).collect();
    c.send(&encode_frame(false, OP_BINARY, &data[..100], mask));
    c.send(&encode_frame(false, OP_CONTINUATION, &data[100..500], mask));
    c.send(&encode_frame(true, OP_PING, b"are you there", mask));
    c.send(&encode_frame(
        true,
        OP_CONTINUATION,
        &data[500..],
        Some([9, 8, 7, 6]),
    ));
    let pong = c.frame();
    assert_eq!(
        (pong.opcode, &pong.payload[..]),
        (OP_PONG, &b"are you there"[..])
    );
    let f = c.frame();
    assert_eq!((f.fin, f.opcode, f.mask), (true, OP_BINARY, None));
    assert_eq!(f.payload, data);

    c.send(&encode_frame(
        true,
        OP_CLOSE,
        &[0x03, 0xE8, b'b', b'y', b'e'],
        mask,
    ));
    let f = c.frame();
    assert_eq!((f.opcode, &f.payload[..]), (OP_CLOSE, &[0x03, 0xE8][..]));
    assert!(matches!(read_frame(&mut c.r, 1 << 20), Ok(None)));

    // An unmasked client frame is a protocol error: close 1002.
    let mut c = Client::connect(addr);
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(c.response().status, 101);
    c.send(&encode_frame(true, OP_TEXT, b"x", None));
    let f = c.frame();
    assert_eq!((f.opcode, &f.payload[..2]), (OP_CLOSE, &[0x03, 0xEA][..]));
}
