// hoody exec: the ambient API every script sees, set up in each request's fresh QuickJS
// context before the script runs. It is a module (compiled to bytecode once per Kit process,
// loaded from bytecode per request) whose default export the Rust side calls with the request
// (a JSON string) and a native log sink; it returns the objects handed to the script and the
// hooks the request is driven with.
//
// Script model (see hoody-kit/src/exec/mod.rs for the full contract):
//   req      {method, url, path, headers, query, params, body, text(), json()}
//   res      {status(n), setHeader(k, v), appendHeader(k, v), getHeader(k), type(t),
//             send(body), json(value), redirect(url, status?), end(body?)}
//   metadata {query, parameters, projectId, containerId, nodeId, domain, instance, script,
//             method, requestId}
//   console.log/info/warn/error/debug, setTimeout/setInterval/clear*, queueMicrotask,
//   Response (new Response(body, {status, headers}), Response.json(value, init)).
export default function hoodyPrelude(input, nativeLog) {
  const I = JSON.parse(input);

  // ---- console -------------------------------------------------------------------------
  const fmt = (a) => {
    if (typeof a === "string") return a;
    if (a instanceof Error) return a.stack ? `${a.name}: ${a.message}\n${a.stack}` : String(a);
    if (a === undefined) return "undefined";
    if (typeof a === "function") return `[Function ${a.name || "anonymous"}]`;
    if (typeof a === "bigint" || typeof a === "symbol") return String(a);
    try {
      const s = JSON.stringify(a);
      return s === undefined ? String(a) : s;
    } catch (_) {
      return String(a);
    }
  };
  const sink = (level) => (...args) => { nativeLog(level, args.map(fmt).join(" ")); };
  globalThis.console = {
    log: sink("log"), info: sink("info"), warn: sink("warn"), error: sink("error"),
    debug: sink("debug"), trace: sink("debug"),
  };

  // ---- timers (driven by the Rust loop once the job queue is empty) -----------------------
  let nextTimerId = 1;
  const timers = new Map();
  const addTimer = (fn, ms, args, repeat) => {
    if (typeof fn !== "function") throw new TypeError("timer callback is not a function");
    const delay = Math.max(0, Number(ms) || 0);
    const id = nextTimerId++;
    timers.set(id, { due: Date.now() + delay, fn, args, every: repeat ? Math.max(1, delay) : 0 });
    return id;
  };
  globalThis.setTimeout = (fn, ms, ...args) => addTimer(fn, ms, args, false);
  globalThis.setInterval = (fn, ms, ...args) => addTimer(fn, ms, args, true);
  globalThis.clearTimeout = (id) => { timers.delete(id); };
  globalThis.clearInterval = globalThis.clearTimeout;
  if (typeof globalThis.queueMicrotask !== "function") {
    globalThis.queueMicrotask = (fn) => { Promise.resolve().then(fn); };
  }
  // Milliseconds until the earliest timer is due (0: due now), or -1 when none is armed.
  const nextTimer = () => {
    let due = Infinity;
    for (const t of timers.values()) if (t.due < due) due = t.due;
    return due === Infinity ? -1 : Math.max(0, due - Date.now());
  };
  // Runs the earliest due timer; an exception in it is logged, as Node would print it.
  const fireTimer = () => {
    let id = 0, best = null;
    for (const [k, t] of timers) if (best === null || t.due < best.due) { id = k; best = t; }
    if (best === null || best.due > Date.now()) return;
    if (best.every) best.due = Date.now() + best.every; else timers.delete(id);
    try { best.fn(...best.args); } catch (e) { console.error("uncaught exception in timer:", e); }
  };

  // ---- headers ---------------------------------------------------------------------------
  // Header pairs from an object, an array of pairs, or anything with entries().
  const headerPairs = (h) => {
    if (h == null) return [];
    if (Array.isArray(h)) return h.map(([k, v]) => [String(k).toLowerCase(), String(v)]);
    if (typeof h.entries === "function" && !(h.constructor === Object)) {
      return Array.from(h.entries(), ([k, v]) => [String(k).toLowerCase(), String(v)]);
    }
    return Object.keys(h).map((k) => [k.toLowerCase(), String(h[k])]);
  };

  // ---- Response --------------------------------------------------------------------------
  class Response {
    constructor(body, init) {
      init = init || {};
      this.body = body === undefined ? null : body;
      this.status = init.status === undefined ? 200 : Number(init.status);
      this.statusText = init.statusText || "";
      this.headers = headerPairs(init.headers);
      this.ok = this.status >= 200 && this.status < 300;
    }
    static json(data, init) {
      const r = new Response(JSON.stringify(data), init);
      if (!r.headers.some(([k]) => k === "content-type")) {
        r.headers.push(["content-type", "application/json; charset=utf-8"]);
      }
      return r;
    }
    async text() { return typeof this.body === "string" ? this.body : String(this.body ?? ""); }
    async json() { return JSON.parse(await this.text()); }
  }
  globalThis.Response = Response;

  // ---- req -------------------------------------------------------------------------------
  const headers = I.headers;
  Object.defineProperties(headers, {
    get: { value: (k) => { const v = headers[String(k).toLowerCase()]; return v === undefined ? null : v; } },
    has: { value: (k) => headers[String(k).toLowerCase()] !== undefined },
  });
  const req = {
    method: I.method,
    url: I.url,
    path: I.path,
    headers,
    query: I.query,
    params: I.parameters,
    body: I.body,
    text: async () => I.body,
    json: async () => {
      try {
        return JSON.parse(I.body);
      } catch (e) {
        const err = new Error(`the request body is not valid JSON: ${e.message}`);
        err.httpStatus = 400;
        err.code = "INVALID_JSON_BODY";
        throw err;
      }
    },
  };

  // ---- res -------------------------------------------------------------------------------
  const out = { status: 200, statusSet: false, headers: [], sent: false, body: undefined, json: false };
  const res = {
    status(n) {
      const s = Number(n);
      if (!Number.isInteger(s) || s < 100 || s > 999) throw new RangeError(`invalid status ${n}`);
      out.status = s; out.statusSet = true; return res;
    },
    setHeader(k, v) {
      const key = String(k).toLowerCase();
      out.headers = out.headers.filter(([h]) => h !== key);
      out.headers.push([key, String(v)]);
      return res;
    },
    appendHeader(k, v) { out.headers.push([String(k).toLowerCase(), String(v)]); return res; },
    getHeader(k) {
      const key = String(k).toLowerCase();
      const hit = out.headers.find(([h]) => h === key);
      return hit ? hit[1] : undefined;
    },
    type(t) { return res.setHeader("content-type", t); },
    send(body) { out.sent = true; out.body = body; out.json = false; return res; },
    json(value) { out.sent = true; out.body = value; out.json = true; return res; },
    redirect(url, status) {
      res.status(status === undefined ? 302 : status);
      res.setHeader("location", url);
      out.sent = true; out.body = undefined; return res;
    },
    end(body) { return res.send(body); },
  };
  res.header = res.setHeader;
  res.set = res.setHeader;

  const metadata = {
    query: I.query,
    parameters: I.parameters,
    projectId: I.projectId,
    containerId: I.containerId,
    nodeId: I.nodeId,
    domain: I.domain,
    instance: I.instance,
    script: I.script,
    method: I.method,
    requestId: I.requestId,
  };

  // ---- the response ----------------------------------------------------------------------
  // What the script's settled value becomes: [JSON of {status, headers}, body], body being a
  // string, a Uint8Array or null.
  const isBytes = (b) => b instanceof ArrayBuffer || ArrayBuffer.isView(b);
  const toBytes = (b) => b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const finish = (value) => {
    let status = out.status;
    let hdrs = out.headers.slice();
    let body = out.sent ? out.body : value;
    let asJson = out.sent && out.json;
    if (!out.sent && value === undefined) {
      return [JSON.stringify({ status: out.statusSet ? status : 204, headers: hdrs }), null];
    }
    if (body instanceof Response) {
      if (!out.statusSet) status = body.status;
      for (const [k, v] of body.headers) {
        hdrs = hdrs.filter(([h]) => h !== k);
        hdrs.push([k, v]);
      }
      body = body.body;
      asJson = false;
    }
    const hasType = hdrs.some(([k]) => k === "content-type");
    const type = (t) => { if (!hasType) hdrs.push(["content-type", t]); };
    let payload = null;
    if (body === undefined || (body === null && !asJson)) {
      payload = null;
    } else if (typeof body === "string" && !asJson) {
      type("text/plain; charset=utf-8");
      payload = body;
    } else if (isBytes(body) && !asJson) {
      type("application/octet-stream");
      payload = toBytes(body);
    } else {
      type("application/json; charset=utf-8");
      payload = JSON.stringify(body);
      if (payload === undefined) payload = "null";
    }
    return [JSON.stringify({ status, headers: hdrs }), payload];
  };

  return { req, res, metadata, finish, nextTimer, fireTimer };
}
