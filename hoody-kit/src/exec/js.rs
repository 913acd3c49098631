//! Running one JavaScript request in a fresh QuickJS runtime (see the module doc of
//! [`super`] for why QuickJS and what a script sees).
//!
//! [`run`] is synchronous and meant for a blocking thread: it creates a `Runtime` with the
//! request's memory limit, a stack limit and an interrupt handler that stops the script at its
//! deadline (or when the client went away), evaluates the prelude
//! (`assets/exec/prelude.js`), compiles the script wrapped in
//! `(async function (req, res, metadata) {…})`, calls it and drives the event loop until the
//! returned promise settles: the job queue first, then due timers, sleeping in short slices
//! until the next one. Everything JavaScript lives inside one `Context::with` call, so no value
//! outlives the runtime. A panic anywhere inside is caught and reported as an internal failure.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::convert::Coerced;
use rquickjs::promise::PromiseState;
use rquickjs::{
    Array, Context, Ctx, Function, Module, Object, Promise, Runtime, TypedArray, Value,
    WriteOptions,
};

/// The ambient API, set up before every script (a module; see [`prelude_bytecode`]).
const PRELUDE: &str = include_str!("../../assets/exec/prelude.js");
/// The prelude's module name (in stack traces).
const PRELUDE_NAME: &str = "hoody-prelude.js";

/// The prelude compiled once per process: loading bytecode costs a fraction of parsing the
/// source again for every request.
fn prelude_bytecode() -> Result<&'static [u8], Failure> {
    static BYTECODE: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    BYTECODE
        .get_or_init(|| {
            let rt = Runtime::new().map_err(|e| e.to_string())?;
            let context = Context::full(&rt).map_err(|e| e.to_string())?;
            context.with(|ctx| {
                Module::declare(ctx.clone(), PRELUDE_NAME, PRELUDE)
                    .and_then(|m| m.write(WriteOptions::default()))
                    .map_err(|e| {
                        let thrown = ctx.catch();
                        format!("{e}: {thrown:?}")
                    })
            })
        })
        .as_deref()
        .map_err(|e| {
            Failure::new(
                FailureKind::Internal,
                format!("the exec prelude does not compile: {e}"),
            )
        })
}

/// The engine's own stack limit; blocking threads have 2 MiB.
const MAX_STACK: usize = 1024 * 1024;
/// Console lines kept per request.
const MAX_LOG_LINES: usize = 1000;
/// Bytes of one console line kept.
const MAX_LOG_LINE: usize = 8 * 1024;
/// Longest sleep between two looks at the cancel flag while waiting for a timer.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

/// Why a run was stopped from outside (held in [`Stop`]).
const STOP_NONE: u8 = 0;
const STOP_TIMEOUT: u8 = 1;
const STOP_CANCELLED: u8 = 2;

/// A flag the request handler sets when the client disconnects; the interrupt handler reads it.
#[derive(Debug, Default)]
pub(crate) struct Stop(AtomicU8);

impl Stop {
    /// Asks the run to stop because its client went away.
    pub(crate) fn cancel(&self) {
        let _ = self.0.compare_exchange(
            STOP_NONE,
            STOP_CANCELLED,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
    fn timeout(&self) {
        let _ =
            self.0
                .compare_exchange(STOP_NONE, STOP_TIMEOUT, Ordering::SeqCst, Ordering::SeqCst);
    }
    fn get(&self) -> u8 {
        self.0.load(Ordering::SeqCst)
    }
}

/// One request for the engine.
#[derive(Debug)]
pub(crate) struct JsJob {
    /// The script file's text.
    pub source: String,
    /// Its path relative to the instance's scripts directory (shown in stack traces).
    pub filename: String,
    /// The request as the prelude expects it (a JSON object, see `prelude.js`).
    pub input: String,
    /// Wall-clock budget from the start of the run.
    pub timeout: Duration,
    /// The runtime's memory limit in bytes.
    pub memory_limit: usize,
    /// Set when the client disconnected.
    pub stop: Arc<Stop>,
}

/// A script's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Output {
    /// HTTP status.
    pub status: u16,
    /// Header pairs, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// How a run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The script threw (or did not compile).
    Script,
    /// It ran past its `@timeout`.
    Timeout,
    /// It exceeded the memory limit.
    Memory,
    /// Its client went away.
    Cancelled,
    /// The engine itself failed (or panicked).
    Internal,
}

/// A failed run: what the script threw, as far as it can be read.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The error's name (`TypeError`), when it was an Error.
    pub name: Option<String>,
    /// Its message.
    pub message: String,
    /// Its stack, when it has one.
    pub stack: Option<String>,
    /// `err.httpStatus` when the script set one (400..=599): the status to answer with.
    pub http_status: Option<u16>,
    /// `err.code` when the script set one.
    pub code: Option<String>,
}

impl Failure {
    /// A failure of `kind` with only a message.
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            name: None,
            message: message.into(),
            stack: None,
            http_status: None,
            code: None,
        }
    }
}

/// One `console.*` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    /// `log`, `info`, `warn`, `error` or `debug`.
    pub level: String,
    /// The formatted arguments.
    pub message: String,
}

/// What a run produced: its outcome and its console output.
#[derive(Debug)]
pub(crate) struct Run {
    /// The response or the failure.
    pub outcome: Result<Output, Failure>,
    /// `console.*` lines, in order (at most [`MAX_LOG_LINES`]).
    pub logs: Vec<LogLine>,
}

/// Runs `job` to completion. Never panics: an engine panic becomes an internal failure.
pub(crate) fn run(job: JsJob) -> Run {
    let logs = Rc::new(RefCell::new(Vec::new()));
    let outcome = catch_unwind(AssertUnwindSafe(|| run_in_fresh_runtime(&job, &logs)))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Failure::new(
                FailureKind::Internal,
                format!(
                    "the script engine panicked running {}: {what}",
                    job.filename
                ),
            ))
        });
    let logs = std::mem::take(&mut *logs.borrow_mut());
    Run { outcome, logs }
}

/// Compiles `source` as a script body (wrapped as [`run`] wraps it) without running it.
pub(crate) fn check_syntax(source: &str, filename: &str) -> Result<(), Failure> {
    catch_unwind(AssertUnwindSafe(|| {
        let rt = Runtime::new().map_err(|e| engine_failure("create a runtime", &e))?;
        rt.set_memory_limit(64 * 1024 * 1024);
        rt.set_max_stack_size(MAX_STACK);
        let context = Context::full(&rt).map_err(|e| engine_failure("create a context", &e))?;
        context.with(|ctx| {
            compile(&ctx, source, filename)
                .map(|_| ())
                .map_err(|e| failure_of(&ctx, e, &Stop::default()))
        })
    }))
    .unwrap_or_else(|_| {
        Err(Failure::new(
            FailureKind::Internal,
            format!("the script engine panicked compiling {filename}"),
        ))
    })
}

fn engine_failure(what: &str, e: &rquickjs::Error) -> Failure {
    let kind = if matches!(e, rquickjs::Error::Allocation) {
        FailureKind::Memory
    } else {
        FailureKind::Internal
    };
    Failure::new(kind, format!("QuickJS could not {what}: {e}"))
}

fn run_in_fresh_runtime(job: &JsJob, logs: &Rc<RefCell<Vec<LogLine>>>) -> Result<Output, Failure> {
    let rt = Runtime::new().map_err(|e| engine_failure("create a runtime", &e))?;
    rt.set_memory_limit(job.memory_limit);
    rt.set_max_stack_size(MAX_STACK);
    let deadline = Instant::now() + job.timeout;
    let stop = job.stop.clone();
    rt.set_interrupt_handler(Some(Box::new(move || {
        if stop.get() != STOP_NONE {
            return true;
        }
        if Instant::now() >= deadline {
            stop.timeout();
            return true;
        }
        false
    })));
    let context = Context::full(&rt).map_err(|e| engine_failure("create a context", &e))?;
    context.with(|ctx| {
        drive(&ctx, job, logs, deadline).map_err(|e| match e {
            Halt::Js(e) => {
                let f = failure_of(&ctx, e, &job.stop);
                match f.kind {
                    FailureKind::Timeout | FailureKind::Cancelled => stopped(job),
                    _ => f,
                }
            }
            Halt::Failure(f) => f,
        })
    })
}

/// Why [`drive`] stopped early.
enum Halt {
    /// An engine error (usually a pending exception).
    Js(rquickjs::Error),
    /// A failure decided on the Rust side.
    Failure(Failure),
}

impl From<rquickjs::Error> for Halt {
    fn from(e: rquickjs::Error) -> Self {
        Halt::Js(e)
    }
}

fn eval_options(filename: &str) -> EvalOptions {
    let mut o = EvalOptions::default();
    o.global = true;
    o.strict = true;
    o.filename = Some(filename.to_string());
    o
}

/// The script body as a function; `{` and the body's first line share a line so that line
/// numbers in stack traces are the file's.
fn compile<'js>(ctx: &Ctx<'js>, source: &str, filename: &str) -> rquickjs::Result<Function<'js>> {
    let body = source.strip_prefix("#!").map_or(source, |rest| {
        // A shebang line is not JavaScript; keep the line (empty) so numbering holds.
        rest.find('\n').map_or("", |i| &rest[i..])
    });
    let wrapped = format!("(async function (req, res, metadata) {{{body}\n}})");
    ctx.eval_with_options(wrapped, eval_options(filename))
}

fn drive<'js>(
    ctx: &Ctx<'js>,
    job: &JsJob,
    logs: &Rc<RefCell<Vec<LogLine>>>,
    deadline: Instant,
) -> Result<Output, Halt> {
    let bytecode = prelude_bytecode().map_err(Halt::Failure)?;
    // SAFETY: the bytes were written by `Module::write` of this same engine, in this process.
    let module = unsafe { Module::load(ctx.clone(), bytecode) }?;
    let (module, evaluated) = module.eval()?;
    evaluated.finish::<()>()?;
    let prelude: Function = module.get("default")?;
    let sink = logs.clone();
    let log = Function::new(ctx.clone(), move |level: String, mut message: String| {
        let mut lines = sink.borrow_mut();
        if lines.len() < MAX_LOG_LINES {
            if message.len() > MAX_LOG_LINE {
                let mut cut = MAX_LOG_LINE;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push('…');
            }
            lines.push(LogLine { level, message });
        }
    })?;
    #[cfg(test)]
    ctx.globals().set(
        "__hoodyTestPanic",
        Function::new(ctx.clone(), || -> () {
            panic!("a panic inside a native binding")
        })?,
    )?;
    let hooks: Object = prelude.call((job.input.as_str(), log))?;
    let next_timer: Function = hooks.get("nextTimer")?;
    let fire_timer: Function = hooks.get("fireTimer")?;
    let finish: Function = hooks.get("finish")?;

    let script = compile(ctx, &job.source, &job.filename)?;
    let promise: Promise = script.call((
        hooks.get::<_, Value>("req")?,
        hooks.get::<_, Value>("res")?,
        hooks.get::<_, Value>("metadata")?,
    ))?;

    // The event loop: jobs (promise reactions) first, then timers.
    while promise.state() == PromiseState::Pending {
        if job.stop.get() != STOP_NONE {
            return Err(Halt::Failure(stopped(job)));
        }
        if ctx.execute_pending_job() {
            continue;
        }
        let wait: f64 = next_timer.call(())?;
        if wait < 0.0 {
            return Err(Halt::Failure(Failure::new(
                FailureKind::Script,
                format!(
                    "{}: the script's promise can never settle (it awaits something no job or \
                     timer will resolve)",
                    job.filename
                ),
            )));
        }
        let now = Instant::now();
        if now >= deadline {
            job.stop.timeout();
            return Err(Halt::Failure(stopped(job)));
        }
        if wait > 0.0 {
            let until_timer = Duration::from_secs_f64(wait / 1000.0);
            std::thread::sleep(until_timer.min(deadline - now).min(SLEEP_SLICE));
            continue;
        }
        fire_timer.call::<_, ()>(())?;
    }

    let value: Value = match promise.result::<Value>() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(Halt::Js(e)),
        None => return Err(Halt::Failure(stopped(job))),
    };
    let parts: Array = finish.call((value,))?;
    let meta: String = parts.get(0)?;
    let body: Value = parts.get(1)?;
    let body = if let Some(s) = body.as_string() {
        s.to_string()?.into_bytes()
    } else if let Ok(bytes) = TypedArray::<u8>::from_value(body.clone()) {
        // SAFETY: the slice is copied at once; no JavaScript runs while it is alive.
        unsafe { bytes.as_bytes() }
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let meta: ResponseMeta = serde_json::from_str(&meta).map_err(|e| {
        Halt::Failure(Failure::new(
            FailureKind::Internal,
            format!(
                "the prelude returned a malformed response for {}: {e}",
                job.filename
            ),
        ))
    })?;
    Ok(Output {
        status: meta.status,
        headers: meta.headers.into_iter().map(|[k, v]| (k, v)).collect(),
        body,
    })
}

#[derive(serde::Deserialize)]
struct ResponseMeta {
    status: u16,
    headers: Vec<[String; 2]>,
}

fn stopped(job: &JsJob) -> Failure {
    match job.stop.get() {
        STOP_CANCELLED => Failure::new(
            FailureKind::Cancelled,
            format!("{}: the client went away", job.filename),
        ),
        _ => Failure::new(
            FailureKind::Timeout,
            format!(
                "{} ran longer than its timeout of {} ms",
                job.filename,
                job.timeout.as_millis()
            ),
        ),
    }
}

/// The failure an engine error stands for, reading the pending exception when there is one.
fn failure_of(ctx: &Ctx<'_>, e: rquickjs::Error, stop: &Stop) -> Failure {
    let thrown = match e {
        rquickjs::Error::Exception => Some(ctx.catch()),
        _ => None,
    };
    match stop.get() {
        STOP_TIMEOUT => return Failure::new(FailureKind::Timeout, "timeout"),
        STOP_CANCELLED => return Failure::new(FailureKind::Cancelled, "the client went away"),
        _ => {}
    }
    let Some(value) = thrown else {
        return engine_failure("run the script", &e);
    };
    describe(value)
}

/// Reads name, message, stack, `httpStatus` and `code` of a thrown value.
fn describe(value: Value<'_>) -> Failure {
    let mut f = Failure::new(FailureKind::Script, String::new());
    if let Some(obj) = value.as_object() {
        let text = |k: &str| {
            obj.get::<_, Option<Coerced<String>>>(k)
                .ok()
                .flatten()
                .map(|c| c.0)
        };
        if obj.is_error() {
            f.name = text("name");
            f.message = text("message").unwrap_or_default();
            f.stack = text("stack").filter(|s| !s.is_empty());
        } else {
            f.message = text("message").unwrap_or_else(|| "a non-Error object".to_string());
        }
        f.code = text("code");
        f.http_status = obj
            .get::<_, Option<f64>>("httpStatus")
            .ok()
            .flatten()
            .filter(|s| (400.0..=599.0).contains(s) && s.fract() == 0.0)
            .map(|s| s as u16);
    } else if value.is_null() || value.is_undefined() {
        // QuickJS throws null when it cannot even allocate the error object.
        f.message = "out of memory".to_string();
    } else {
        f.message = value
            .get::<Coerced<String>>()
            .map(|c| c.0)
            .unwrap_or_else(|_| "an unprintable value".to_string());
    }
    if f.message.contains("out of memory") {
        f.kind = FailureKind::Memory;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(source: &str) -> JsJob {
        JsJob {
            source: source.to_string(),
            filename: "t.js".to_string(),
            input: serde_json::json!({
                "method": "GET", "url": "http://x/t", "path": "/t", "headers": {},
                "query": {}, "parameters": {}, "body": "", "projectId": null,
                "containerId": null, "nodeId": null, "domain": "x", "instance": "1",
                "script": "t.js", "requestId": "r1",
            })
            .to_string(),
            timeout: Duration::from_secs(10),
            memory_limit: 32 * 1024 * 1024,
            stop: Arc::new(Stop::default()),
        }
    }

    fn ok(source: &str) -> Output {
        match run(job(source)).outcome {
            Ok(o) => o,
            Err(f) => panic!("{source}: {f:?}"),
        }
    }

    #[test]
    fn returns_json_text_bytes_and_nothing() {
        let o = ok("return {a: 1}");
        assert_eq!((o.status, o.body.as_slice()), (200, &br#"{"a":1}"#[..]));
        assert_eq!(o.headers[0].1, "application/json; charset=utf-8");
        let o = ok("return 'hi'");
        assert_eq!(o.body, b"hi");
        assert_eq!(o.headers[0].1, "text/plain; charset=utf-8");
        assert_eq!(ok("return new Uint8Array([1,2,3])").body, vec![1, 2, 3]);
        assert_eq!(ok("").status, 204);
        let o = ok("res.status(201).setHeader('X-A', 'b'); return [1]");
        assert_eq!(o.status, 201);
        assert!(o.headers.contains(&("x-a".to_string(), "b".to_string())));
        let o = ok("res.status(404).json('missing')");
        assert_eq!((o.status, o.body.as_slice()), (404, &b"\"missing\""[..]));
        let o = ok("return Response.json({x: 2}, {status: 202})");
        assert_eq!((o.status, o.body.as_slice()), (202, &br#"{"x":2}"#[..]));
    }

    #[test]
    fn awaits_promises_and_timers() {
        let o = ok("await new Promise(r => setTimeout(r, 30)); let n = 0; \
                    const id = setInterval(() => { n++; }, 5); \
                    await new Promise(r => setTimeout(r, 40)); clearInterval(id); \
                    return {n: n > 2}");
        assert_eq!(o.body, br#"{"n":true}"#);
    }

    #[test]
    fn failures_are_classified() {
        let f = run(job("throw new TypeError('nope')")).outcome.unwrap_err();
        assert_eq!(f.kind, FailureKind::Script);
        assert_eq!(f.name.as_deref(), Some("TypeError"));
        assert_eq!(f.message, "nope");
        assert!(
            f.stack.unwrap_or_default().contains("t.js:1"),
            "stack names the file"
        );
        let mut spin = job("while (true) {}");
        spin.timeout = Duration::from_millis(300);
        let t = Instant::now();
        let f = run(spin).outcome.unwrap_err();
        assert_eq!(f.kind, FailureKind::Timeout);
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        let f = run(job("await new Promise(() => {})")).outcome.unwrap_err();
        assert_eq!(f.kind, FailureKind::Script);
        let f = run(job(
            "const a = []; while (true) a.push('x'.repeat(1 << 20) + a.length)",
        ))
        .outcome
        .unwrap_err();
        assert_eq!(f.kind, FailureKind::Memory, "{f:?}");
        let f = run(job("function f() { return f() + 1 } return f()"))
            .outcome
            .unwrap_err();
        assert_eq!(f.kind, FailureKind::Script);
        let f = run(job("await req.json()")).outcome.unwrap_err();
        assert_eq!(f.http_status, Some(400));
    }

    #[test]
    fn a_panic_in_a_binding_is_a_failure_not_a_crash() {
        let f = run(job("__hoodyTestPanic(); return 1"))
            .outcome
            .unwrap_err();
        assert_eq!(f.kind, FailureKind::Internal);
        assert!(
            f.message.contains("a panic inside a native binding"),
            "{f:?}"
        );
        assert_eq!(ok("return 2").body, b"2", "the next run works");
    }

    #[test]
    fn cancel_stops_a_running_script() {
        for source in [
            "for (;;) {}",
            "await new Promise(r => setTimeout(r, 10000))",
        ] {
            let mut j = job(source);
            j.timeout = Duration::from_secs(10);
            let stop = j.stop.clone();
            let t = Instant::now();
            let runner = std::thread::spawn(move || run(j));
            std::thread::sleep(Duration::from_millis(100));
            stop.cancel();
            let f = runner.join().unwrap().outcome.unwrap_err();
            assert_eq!(f.kind, FailureKind::Cancelled, "{source}");
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "{source}: {:?}",
                t.elapsed()
            );
        }
    }

    #[test]
    fn console_is_captured() {
        let r = run(job(
            "console.log('a', 1, {b: 2}); console.error(new Error('e')); return 1",
        ));
        assert_eq!(r.logs[0].message, r#"a 1 {"b":2}"#);
        assert_eq!(r.logs[1].level, "error");
    }

    #[test]
    fn syntax_is_checked_without_running() {
        assert!(check_syntax("while (true) {}", "a.js").is_ok());
        let f = check_syntax("return {", "a.js").unwrap_err();
        assert_eq!(f.name.as_deref(), Some("SyntaxError"));
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// `cargo test --release -p hoody-kit --lib exec::js::timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn phases() {
        let n = 300;
        let j = tests_job();
        let t = Instant::now();
        for _ in 0..n {
            let rt = Runtime::new().unwrap();
            drop(rt);
        }
        eprintln!("runtime: {:?}", t.elapsed() / n);
        let t = Instant::now();
        for _ in 0..n {
            let rt = Runtime::new().unwrap();
            let c = Context::full(&rt).unwrap();
            drop(c);
        }
        eprintln!("runtime+full context: {:?}", t.elapsed() / n);
        let t = Instant::now();
        for _ in 0..n {
            let rt = Runtime::new().unwrap();
            let c = Context::full(&rt).unwrap();
            c.with(|ctx| {
                // SAFETY: bytecode written by Module::write in this process.
                let m = unsafe { Module::load(ctx.clone(), prelude_bytecode().unwrap()) }.unwrap();
                let (m, p) = m.eval().unwrap();
                p.finish::<()>().unwrap();
                let _: Function = m.get("default").unwrap();
            });
        }
        eprintln!("+prelude from bytecode: {:?}", t.elapsed() / n);
        let rt = Runtime::new().unwrap();
        let c = Context::full(&rt).unwrap();
        c.with(|ctx| {
            let t = Instant::now();
            for _ in 0..n {
                let _ = Module::declare(ctx.clone(), "p.js", PRELUDE).unwrap();
            }
            eprintln!("prelude compile alone: {:?}", t.elapsed() / n);
            let t = Instant::now();
            for _ in 0..n {
                // SAFETY: bytecode written by Module::write in this process.
                let m = unsafe { Module::load(ctx.clone(), prelude_bytecode().unwrap()) }.unwrap();
                let (m, p) = m.eval().unwrap();
                p.finish::<()>().unwrap();
                let _: Function = m.get("default").unwrap();
            }
            eprintln!("prelude load alone: {:?}", t.elapsed() / n);
            let t = Instant::now();
            for _ in 0..n {
                let _: Value = ctx.eval_with_options("1", eval_options("p.js")).unwrap();
            }
            eprintln!("trivial eval: {:?}", t.elapsed() / n);
        });
        let t = Instant::now();
        for _ in 0..n {
            let r = run(JsJob {
                source: "return {hello: 'world'}".into(),
                ..tests_job_clone(&j)
            });
            assert!(r.outcome.is_ok());
        }
        eprintln!("full run: {:?}", t.elapsed() / n);
    }

    fn tests_job() -> JsJob {
        JsJob {
            source: String::new(),
            filename: "t.js".to_string(),
            input: serde_json::json!({
                "method": "GET", "url": "http://x/t", "path": "/t", "headers": {},
                "query": {}, "parameters": {}, "body": "", "projectId": null,
                "containerId": null, "nodeId": null, "domain": "x", "instance": "1",
                "script": "t.js", "requestId": "r1",
            })
            .to_string(),
            timeout: Duration::from_millis(500),
            memory_limit: 64 * 1024 * 1024,
            stop: Arc::new(Stop::default()),
        }
    }
    fn tests_job_clone(j: &JsJob) -> JsJob {
        JsJob {
            source: j.source.clone(),
            filename: j.filename.clone(),
            input: j.input.clone(),
            timeout: j.timeout,
            memory_limit: j.memory_limit,
            stop: Arc::new(Stop::default()),
        }
    }
}
