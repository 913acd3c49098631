//! `GET /api/v1/terminal/ws`: ttyd's WebSocket protocol on a shared session.
//!
//! Every frame's first byte says what it is. Client to server: the first frame is JSON
//! (`{"columns":C,"rows":R}`, maybe with ttyd's `AuthToken`), then `'0'`+input, `'1'`+resize
//! JSON `{columns, rows}`, `'2'` pause, `'3'` resume. Server to client, all binary: `'0'`+PTY
//! output, `'1'` window title, `'2'` preferences JSON, `'3'` terminal id, `'4'` shell.
//! Client frames may be binary or text.
//!
//! After the first frame the server sends the title, preferences, terminal id and shell,
//! then the session's scrollback (so a client that reconnects sees its screen again), then
//! the live output. Pause stops forwarding to this client only (other clients and the shell
//! go on); a client that falls more than the broadcast buffer behind (paused, or slow) is
//! resynchronised: its terminal is reset and the scrollback replayed, from which the live
//! feed continues without a gap. When the shell exits the socket closes with 1000 and the
//! exit code in the reason; a frame that breaks the protocol closes it with 1008 and a
//! reason naming the problem.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::session::{CreateOptions, Terminals};

/// Output forwarded per frame at most (consecutive chunks are coalesced up to this).
const FRAME_BYTES: usize = 64 * 1024;
/// How long the first (JSON) frame may take.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(60);

/// Close code for protocol violations.
const POLICY: u16 = 1008;

/// `{columns, rows}`; other fields (ttyd's `AuthToken`) are ignored, absent sizes are 0.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Size {
    columns: u16,
    rows: u16,
}

/// What the handshake settled: which session, how to create it, whether input is allowed.
#[derive(Debug)]
pub(super) struct Attach {
    pub terminal_id: u32,
    pub opts: CreateOptions,
    pub readonly: bool,
}

fn frame(cmd: u8, body: &[u8]) -> Message {
    let mut b = BytesMut::with_capacity(body.len() + 1);
    b.put_u8(cmd);
    b.put_slice(body);
    Message::Binary(b.freeze())
}

async fn close(ws: &mut WebSocket, code: u16, reason: &str) {
    // Close reasons are limited to 123 bytes.
    let mut r = reason.to_string();
    while r.len() > 123 {
        r.pop();
    }
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: r.into(),
        })))
        .await;
}

/// The payload of a client frame, binary or text; `None` for control frames.
fn payload(m: Message) -> Option<Bytes> {
    match m {
        Message::Binary(b) => Some(b),
        Message::Text(t) => Some(Bytes::copy_from_slice(t.as_str().as_bytes())),
        _ => None,
    }
}

/// Serves one WebSocket client of the session `a.terminal_id`.
pub(super) async fn serve(mut ws: WebSocket, terms: Arc<Terminals>, a: Attach) {
    // 1. The first frame: JSON with the client's size.
    let first = loop {
        match tokio::time::timeout(FIRST_FRAME_TIMEOUT, ws.recv()).await {
            Err(_) => {
                close(
                    &mut ws,
                    POLICY,
                    "no initial {columns, rows} frame within 60 s",
                )
                .await;
                return;
            }
            Ok(None) | Ok(Some(Err(_))) => return,
            Ok(Some(Ok(Message::Close(_)))) => return,
            Ok(Some(Ok(m))) => {
                if let Some(p) = payload(m) {
                    break p;
                }
            }
        }
    };
    if first.first() != Some(&b'{') {
        close(
            &mut ws,
            POLICY,
            "the first frame must be JSON {\"columns\":C,\"rows\":R}",
        )
        .await;
        return;
    }
    let size: Size = match serde_json::from_slice(&first) {
        Ok(s) => s,
        Err(e) => {
            close(&mut ws, POLICY, &format!("invalid initial JSON frame: {e}")).await;
            return;
        }
    };
    let mut opts = a.opts;
    if size.columns > 0 && size.rows > 0 {
        opts.cols = size.columns.min(1000);
        opts.rows = size.rows.min(1000);
    }

    // 2. The session (started now if it does not run yet), at the client's size.
    let session = match terms.ensure(Some(a.terminal_id), &opts).await {
        Ok((s, created)) => {
            if !created && size.columns > 0 && size.rows > 0 {
                let _ = s.resize(size.columns, size.rows);
            }
            s
        }
        Err(e) => {
            close(&mut ws, 1011, &format!("{} {}", e.code, e.message)).await;
            return;
        }
    };
    let (snapshot, mut rx, _client) = session.attach();
    let mut ended = session.ended();

    // 3. Title, preferences, terminal id, shell, then the scrollback.
    let prefs = serde_json::json!({});
    let hello = [
        frame(b'1', session.title().as_bytes()),
        frame(b'2', prefs.to_string().as_bytes()),
        frame(b'3', session.id.to_string().as_bytes()),
        frame(b'4', session.shell.name().as_bytes()),
    ];
    for m in hello {
        if ws.send(m).await.is_err() {
            return;
        }
    }
    for chunk in snapshot.chunks(FRAME_BYTES) {
        if ws.send(frame(b'0', chunk)).await.is_err() {
            return;
        }
    }

    // 4. Live: client frames in, output out.
    let mut paused = false;
    loop {
        tokio::select! {
            biased;
            out = rx.recv(), if !paused => {
                match out {
                    Ok(first) => {
                        let mut buf = BytesMut::with_capacity(first.len() + 1);
                        buf.put_u8(b'0');
                        buf.put_slice(&first);
                        while buf.len() < FRAME_BYTES {
                            match rx.try_recv() {
                                Ok(more) => buf.put_slice(&more),
                                Err(TryRecvError::Lagged(_)) => break,
                                Err(_) => break,
                            }
                        }
                        if ws.send(Message::Binary(buf.freeze())).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Fell behind: reset the client's terminal and replay.
                        let (snap, new_rx) = session.resubscribe();
                        rx = new_rx;
                        if ws.send(frame(b'0', b"\x1bc")).await.is_err() {
                            return;
                        }
                        for chunk in snap.chunks(FRAME_BYTES) {
                            if ws.send(frame(b'0', chunk)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(RecvError::Closed) => return,
                }
            }
            m = ws.recv() => {
                let m = match m {
                    None | Some(Err(_)) => return,
                    Some(Ok(Message::Close(_))) => return,
                    Some(Ok(m)) => m,
                };
                let Some(p) = payload(m) else { continue };
                let Some((&cmd, body)) = p.split_first() else { continue };
                match cmd {
                    b'0' => {
                        if !a.readonly && session.write_input(body).await.is_err() {
                            return;
                        }
                    }
                    b'1' => match serde_json::from_slice::<Size>(body) {
                        Ok(s) if s.columns > 0 && s.rows > 0 => {
                            let _ = session.resize(s.columns, s.rows);
                        }
                        Ok(_) => {
                            close(&mut ws, POLICY, "resize needs columns and rows above 0").await;
                            return;
                        }
                        Err(e) => {
                            close(&mut ws, POLICY, &format!("invalid resize JSON: {e}")).await;
                            return;
                        }
                    },
                    b'2' => paused = true,
                    b'3' => paused = false,
                    // A repeated initial JSON frame: ttyd ignores it.
                    b'{' => {}
                    other => {
                        let what = if other.is_ascii_graphic() {
                            format!("{:?}", other as char)
                        } else {
                            format!("byte {other}")
                        };
                        close(
                            &mut ws,
                            POLICY,
                            &format!("unknown frame type {what}: expected '0' input, '1' resize, '2' pause or '3' resume"),
                        )
                        .await;
                        return;
                    }
                }
            }
            code = async { ended.wait_for(Option::is_some).await.map(|c| c.unwrap_or(-1)).unwrap_or(-1) } => {
                // Deliver what is still queued, then say how the shell ended.
                let mut rest = BytesMut::new();
                while let Ok(b) = rx.try_recv() {
                    rest.put_slice(&b);
                }
                for chunk in rest.chunks(FRAME_BYTES) {
                    let _ = ws.send(frame(b'0', chunk)).await;
                }
                close(&mut ws, 1000, &format!("process exited with code {code}")).await;
                return;
            }
        }
    }
}
