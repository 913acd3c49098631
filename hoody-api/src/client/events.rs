//! Server-sent events: hoodyd's `GET /api/v1/events` stream as an iterator of [`Event`]s.

use super::*;

/// The event stream of [`Client::events`]: an iterator of [`Event`]s that blocks until the
/// next one. It ends when hoodyd closes the stream; after an I/O error it ends too.
/// [`ClientError::Lagged`] is not fatal: re-list, then keep iterating.
pub struct Events {
    pub(super) reader: BufReader<BodyReader<BufReader<Conn>>>,
    pub(super) request: String,
    pub(super) last_event_id: Option<String>,
    pub(super) done: bool,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("request", &self.request)
            .field("last_event_id", &self.last_event_id)
            .field("done", &self.done)
            .finish()
    }
}

impl Events {
    /// The `id` of the last event received (its [`Event::seq`]).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// Sets a read timeout on the stream (`None`: wait forever, the default). hoodyd sends a
    /// keep-alive every 15 s, so a timeout above that detects a vanished daemon.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.reader
            .get_ref()
            .set_read_timeout(timeout.filter(|t| !t.is_zero()))
    }
}

impl Iterator for Events {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut kind: Option<String> = None;
        let mut data: Option<String> = None;
        loop {
            let line = match read_line(&mut self.reader, MAX_LINE) {
                Ok(Some(l)) => String::from_utf8_lossy(&l).into_owned(),
                // The end of the stream; an unterminated event is dropped, as SSE says.
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(ClientError::Io {
                        request: self.request.clone(),
                        source: e,
                    }));
                }
            };
            if line.is_empty() {
                let Some(data) = data.take() else {
                    kind = None;
                    continue;
                };
                return Some(dispatch(kind.as_deref(), &data));
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            match field {
                "event" => kind = Some(value.to_string()),
                "data" => match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                },
                "id" => self.last_event_id = Some(value.to_string()),
                _ => {}
            }
        }
    }
}

/// One complete server-sent event.
pub(super) fn dispatch(kind: Option<&str>, data: &str) -> Result<Event> {
    if kind == Some("lagged") {
        #[derive(serde::Deserialize)]
        struct Lagged {
            missed: u64,
        }
        return match serde_json::from_str::<Lagged>(data) {
            Ok(l) => Err(ClientError::Lagged { missed: l.missed }),
            Err(e) => Err(ClientError::Protocol(format!(
                "bad lagged event {:?}: {e}",
                quote(data)
            ))),
        };
    }
    serde_json::from_str(data).map_err(|e| {
        ClientError::Protocol(format!(
            "bad event {:?} in the event stream: {e}",
            quote(data)
        ))
    })
}
