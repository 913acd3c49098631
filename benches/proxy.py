#!/usr/bin/env python3
"""hoody-proxy vs nginx vs the upstream directly, same upstream, same run (as root).

  benches/proxy.py [--duration 10] [--connections 64] [--websockets 10000]
                   [--workers N] [--threads N] [--rounds N]
  benches/proxy.py --ab-shapes 1x2,2x1 [--rounds 16]
  benches/proxy.py --ab-shapes 1x2,1x2m [--rounds 16]   (m: with --metrics)
  benches/proxy.py --hooks 8 [--rounds 8]

A pool, a network and a hoodyd of their own; one Debian 13 container running `hoody-echo` on
port 8080 (the upstream). Then, with wrk on loopback (2 threads):
  direct     wrk → container:8080
  nginx      wrk → nginx (Debian package, reverse proxy, keep-alive upstream pool, the same
             forwarding headers as hoody-proxy unless --nginx-bare) → container
  hoody      wrk → hoody-proxy → container
each over plain HTTP and over TLS (both proxies use the same certificate), printing requests per
second and p50/p99 latency, and the ratios. With --rounds N, then N more rounds of wrk (6 s)
alternating between nginx and hoody-proxy (plain, then TLS; the order flipped every round), and
the ratio per round with its geometric mean and 95% interval: one pass moves with the machine's
load by ±20%, the alternating rounds see the same load. Then --websockets idle WebSockets are opened through
hoody-proxy and its memory is read: the resident memory of all its processes (the supervisor and
the workers) added up. hoody-proxy runs with --workers and --threads when given, else with its
defaults.

With --ab-shapes, instead of all that: one hoody-proxy per shape (--workers x --threads, an `m`
after it: with --metrics) at once in front of the same upstream, wrk rounds alternating between
them (see compare_shapes).

With --hooks N, instead: wrk rounds (plain HTTP) through hoody-proxy alternating between the
container's `http-8080` with no proxy hooks and with N hooks that do not match the benchmarked
path (what every request pays to be checked), then one run with a hook that matches every request
(its script runs on the container's exec service per request) (see compare_hooks).

Installs nginx and wrk with apt when missing. docs/PERFORMANCE.md records a run.
"""
import argparse
import base64
import json
import math
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where `cargo build` puts binaries: $CARGO_TARGET_DIR when set (relative to the repository,
# as cargo reads it when run from there), else ROOT/target.
BIN = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR") or "target", "release")
APEX = "hoody.bench"


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def api(sock, method, path, body=None):
    cmd = ["curl", "-s", "--unix-socket", sock, "-X", method, f"http://hoodyd{path}"]
    if body is not None:
        cmd += ["-H", "content-type: application/json", "-d", json.dumps(body)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)["data"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wrk(url, host, duration, conns):
    out = subprocess.run(
        ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{duration}s", "--latency", "-H", f"Host: {host}", url],
        check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def lat(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v if u == "ms" else v * 1000

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url} ({host}): {errors.group(1)} errors\n{out}")
    return rps, lat(50), lat(99)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def rss_each_kb(pid):
    """The process's and its children's (a supervisor's workers')."""
    return [rss_kb(p) for p in [pid, *children(pid)]]


def open_websockets(port, host, n):
    socks = []
    req = (f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
           + base64.b64encode(os.urandom(16)).decode() + "\r\n\r\n").encode()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                sys.exit(f"websocket {i}: connection closed")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            sys.exit(f"websocket {i}: {head[:80]!r}")
        socks.append(s)
    return socks


def start_proxy(tmp, sock, host, name, workers, threads, metrics=False):
    """hoody-proxy on two new ports, once it serves `host`: (process, http port, https port).
    With `metrics`, also with --metrics on a third port."""
    hp, hps = free_port(), free_port()
    shape = [f for flag, v in (("--workers", workers), ("--threads", threads))
             if v is not None for f in (flag, str(v))]
    if metrics:
        shape += ["--metrics", f"127.0.0.1:{free_port()}"]
    proxy = subprocess.Popen(
        [f"{BIN}/hoody-proxy", "--domain", APEX, "--dns", "none", "--hoodyd-socket", sock,
         "--http", f"127.0.0.1:{hp}", "--https", f"127.0.0.1:{hps}", "--tls-dir", f"{tmp}/tls",
         "--log-dir", f"{tmp}/proxy-logs", *shape],
        stderr=open(f"{tmp}/{name}.log", "w"))
    for _ in range(100):
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                            f"Host: {host}", f"http://127.0.0.1:{hp}/"], capture_output=True, text=True)
        if r.stdout == "200":
            break
        time.sleep(0.1)
    return proxy, hp, hps


def compare_shapes(a, tmp, sock, host, procs):
    """--ab-shapes: one hoody-proxy per shape (WORKERSxTHREADS), all running at once in front of
    the same upstream; rounds of wrk (-c64, 6 s, plain then TLS) go to each in turn (the order
    flipped every round), so that the machine's changing load falls on all alike. Prints each
    round, then per shape the median req/s and, against the first shape, the ratio per round,
    its median and its geometric mean with a 95% interval."""
    ports = {}
    for spec in a.ab_shapes.split(","):
        m = spec.endswith("m")
        w, t = (int(x) for x in spec.rstrip("m").split("x"))
        p, hp, hps = start_proxy(tmp, sock, host, f"proxy-{spec}", w, t, metrics=m)
        procs.append(p)
        ports[spec] = (hp, hps)
    for hp, hps in ports.values():  # warm-up: pools, TLS sessions
        wrk(f"http://127.0.0.1:{hp}/", host, 2, a.connections)
        wrk(f"https://127.0.0.1:{hps}/", host, 2, a.connections)
    res = {(n, k): [] for n in ports for k in ("plain", "TLS")}
    for r in range(a.rounds):
        order = list(ports.items())
        if r % 2:
            order.reverse()
        for n, (hp, hps) in order:
            res[(n, "plain")].append(wrk(f"http://127.0.0.1:{hp}/", host, 6, a.connections)[0])
            res[(n, "TLS")].append(wrk(f"https://127.0.0.1:{hps}/", host, 6, a.connections)[0])
        print(f"round {r + 1}: " + ", ".join(f"{n} {k} {v[-1]:.0f}" for (n, k), v in res.items()),
              flush=True)
    first = next(iter(ports))
    print(f"--workers W --threads T as WxT; wrk -t2 -c{a.connections} -d6s, {a.rounds} rounds")
    for k in ("plain", "TLS"):
        for n in ports:
            line = f"{k:5} {n}: median {statistics.median(res[(n, k)]):.0f} req/s"
            if n != first:
                ratios = [y / x for x, y in zip(res[(first, k)], res[(n, k)])]
                line += f"; / {first} {ratio_summary(ratios)}"
            print(line)


HOOK_SCRIPT = """const call = await req.json();
return {action: "continue", set_headers: {"x-hooked": call.hook.id}};
"""


def set_hooks(sock, cid, hooks):
    """Replaces the hooks of http-8080 with `hooks` (hook bodies)."""
    api(sock, "DELETE", f"/api/v1/containers/{cid}/proxy/hooks/http-8080")
    for h in hooks:
        api(sock, "POST", f"/api/v1/containers/{cid}/proxy/hooks/http-8080", h)
    time.sleep(1)  # the proxy learns it from hoodyd's event stream


def compare_hooks(a, tmp, sock, cid, hp, host):
    """--hooks N: wrk rounds alternating between no hooks and N non-matching hooks on the
    service; then one run with a matching hook."""
    d = f"{tmp}/pool/containers/{cid}/hoody/storage/hoody-exec/scripts/1/hooks"
    os.makedirs(d, exist_ok=True)
    open(f"{d}/pass.js", "w").write(HOOK_SCRIPT)
    miss = [{"match": {"path": f"/nomatch-{i}/*", "headers": {"x-never": "*"}},
             "script": {"path": "/hooks/pass.js"}} for i in range(a.hooks)]
    url = f"http://127.0.0.1:{hp}/"
    res = {"none": [], "hooks": []}
    for r in range(a.rounds):
        order = ["none", "hooks"] if r % 2 == 0 else ["hooks", "none"]
        for k in order:
            set_hooks(sock, cid, [] if k == "none" else miss)
            res[k].append(wrk(url, host, 6, a.connections))
        print(f"round {r + 1}: no hooks {res['none'][-1][0]:.0f} req/s, "
              f"{a.hooks} hooks {res['hooks'][-1][0]:.0f} req/s", flush=True)
    ratios = [h[0] / n[0] for n, h in zip(res["none"], res["hooks"])]
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    print(f"no hooks:           {med(res['none'], 0):8.0f} req/s  p50 {med(res['none'], 1):.2f} ms  p99 {med(res['none'], 2):.2f} ms")
    print(f"{a.hooks} hooks (no match): {med(res['hooks'], 0):8.0f} req/s  p50 {med(res['hooks'], 1):.2f} ms  p99 {med(res['hooks'], 2):.2f} ms")
    print(f"{a.hooks} hooks / none, wrk -t2 -c{a.connections} -d6s: {ratio_summary(ratios)}")
    set_hooks(sock, cid, [{"match": {"path": "/*"}, "script": {"path": "/hooks/pass.js"}}])
    rps, p50, p99 = wrk(url, host, a.duration, a.connections)
    print(f"1 matching hook (the script runs per request): {rps:.0f} req/s  p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    set_hooks(sock, cid, [])


def ratio_summary(ratios):
    """Per-round ratios, their median and their geometric mean with a 95% interval."""
    logs = [math.log(x) for x in ratios]
    g = math.exp(statistics.mean(logs))
    se = statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else 0.0
    return (f"per round {', '.join(f'{x:.2f}' for x in ratios)}: median "
            f"{statistics.median(ratios):.2f}, geometric mean {g:.3f} (95%: "
            f"{g * math.exp(-2 * se):.3f}-{g * math.exp(2 * se):.3f})")


def alternate(a, host, urls):
    """--rounds: wrk rounds alternating between nginx and hoody-proxy, plain and TLS."""
    res = {k: [] for k in urls}
    for r in range(a.rounds):
        for kind in ("plain", "TLS"):
            order = [("nginx", kind), ("hoody-proxy", kind)]
            if r % 2:
                order.reverse()
            for key in order:
                res[key].append(wrk(urls[key], host, 6, a.connections)[0])
        print(f"round {r + 1}: " + ", ".join(f"{n} {k} {v[-1]:.0f}" for (n, k), v in res.items()),
              flush=True)
    print(f"hoody-proxy / nginx, wrk -t2 -c{a.connections} -d6s, {a.rounds} alternating rounds:")
    for kind in ("plain", "TLS"):
        ratios = [h / n for n, h in zip(res[("nginx", kind)], res[("hoody-proxy", kind)])]
        print(f"  {kind:5} {ratio_summary(ratios)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--websockets", type=int, default=10000)
    ap.add_argument("--workers", type=int, help="hoody-proxy --workers (default: its own)")
    ap.add_argument("--threads", type=int, help="hoody-proxy --threads (default: its own)")
    ap.add_argument("--ab-shapes", help="instead: compare hoody-proxy shapes, e.g. 1x2,2x1 "
                    "(--workers x --threads), each against the same upstream, alternating")
    ap.add_argument("--nginx-bare", action="store_true",
                    help="nginx sets only Host and X-Forwarded-For (default: also "
                         "X-Forwarded-Proto and Forwarded, as hoody-proxy)")
    ap.add_argument("--hooks", type=int, help="instead: N non-matching proxy hooks vs none, "
                    "alternating rounds (then one matching hook)")
    ap.add_argument("--rounds", type=int, help="alternating nginx/hoody-proxy rounds after the "
                    "table (default 0), or --ab-shapes rounds (default 16)")
    a = ap.parse_args()
    if a.rounds is None:
        a.rounds = 16 if a.ab_shapes else 8 if a.hooks else 0
    if os.geteuid() != 0:
        sys.exit("benches/proxy.py: run as root")
    missing = [p for p, b in (("nginx", "nginx"), ("wrk", "wrk")) if not shutil.which(b)
               and not os.path.exists(f"/usr/sbin/{b}")]
    if missing:
        sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing,
           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)
    # Root may raise the hard limit too (up to fs.nr_open); the WebSockets need ~1 fd each here.
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
        hard = None
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # hoody, hoodyd, hoody-monitor, hoody-proxy and hoody-echo.
    sh("cargo", "build", "--release", "-q", "-p", "hoody-cli", "-p", "hoodyd-bin", "-p", "hoody-monitor",
       "-p", "hoody-proxy-bin", "-p", "hoody-testkit", "--bins", cwd=ROOT)
    tmp = tempfile.mkdtemp(prefix="hoodytest-proxybench-", dir="/var/tmp")
    os.chmod(tmp, 0o755)
    env = dict(os.environ,
               HOODY_POOL=f"{tmp}/pool", HOODY_POOL_REGISTRY=f"{tmp}/registry.json",
               HOODY_RUN_DIR=f"{tmp}/run", HOODY_MONITOR=f"{BIN}/hoody-monitor",
               HOODY_NET_NAME="hoodytest-pxb", HOODY_NET_POOL="10.91.0.0/24",
               HOODY_NET_STATE=f"{tmp}/net", HOODY_SOCKET=f"{tmp}/hoodyd.sock", HOODY_RAMDISK_DIR=f"{tmp}/ramdisk")
    hoody = lambda *args: sh(f"{BIN}/hoody", *args, env=env, stdout=subprocess.DEVNULL)
    hoody("pool", "init", "--size", "6G")
    hoody("image", "build", "debian-13")
    sock = f"{tmp}/hoodyd.sock"
    procs = []
    d = subprocess.Popen([f"{BIN}/hoodyd", "--server-name", "bench-1"], env=env,
                         stderr=open(f"{tmp}/hoodyd.log", "w"))
    procs.append(d)
    try:
        while not os.path.exists(sock):
            time.sleep(0.05)
        time.sleep(0.2)
        sid = api(sock, "GET", "/api/v1/servers")["servers"][0]["id"]
        pid = api(sock, "POST", "/api/v1/projects", {"alias": "bench"})["id"]
        c = api(sock, "POST", f"/api/v1/projects/{pid}/containers",
                {"server_id": sid, "name": "upstream"})
        while c["status"] == "creating":
            time.sleep(0.1)
            c = api(sock, "GET", f"/api/v1/containers/{c['id']}")
        assert c["status"] == "running", c
        cid, ip = c["id"], c["ip"]
        shutil.copy(f"{BIN}/hoody-echo", f"{tmp}/pool/containers/{cid}/usr/local/bin/hoody-echo")
        sh(f"{BIN}/hoody", "machine", "exec", cid, "--", "systemd-run", "--unit", "echo",
           "-p", "LimitNOFILE=65536", "-p", "TasksMax=infinity",
           "/usr/local/bin/hoody-echo", "--listen", "0.0.0.0:8080", env=env,
           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host = f"{pid}-{cid}-http-8080.bench-1.containers.{APEX}"
        for _ in range(100):
            if subprocess.run(["curl", "-sf", f"http://{ip}:8080/"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)

        if a.ab_shapes:
            compare_shapes(a, tmp, sock, host, procs)
            return
        proxy, hp, hps = start_proxy(tmp, sock, host, "proxy", a.workers, a.threads)
        procs.append(proxy)
        if a.hooks:
            compare_hooks(a, tmp, sock, cid, hp, host)
            return
        np_, nps = free_port(), free_port()
        os.makedirs(f"{tmp}/nginx", exist_ok=True)
        # The same job as hoody-proxy's: it sends the upstream X-Forwarded-Proto and Forwarded
        # too (about 70 bytes a request, parsed upstream).
        nginx_forwarding = "" if a.nginx_bare else (
            'proxy_set_header X-Forwarded-Proto $scheme; '
            'proxy_set_header Forwarded "for=$remote_addr;proto=$scheme";')
        print("nginx forwarding headers: "
              + ("Host, X-Forwarded-For (--nginx-bare)" if a.nginx_bare else
                 "Host, X-Forwarded-For, X-Forwarded-Proto, Forwarded (as hoody-proxy)"))
        conf = f"""worker_processes auto;
pid {tmp}/nginx/nginx.pid;
error_log {tmp}/nginx/error.log;
events {{ worker_connections 20000; }}
http {{
  log_format hoody '$remote_addr $request_method $host $request_uri $status $body_bytes_sent $request_time';
  access_log {tmp}/nginx/access.log hoody buffer=64k flush=1s;
  client_body_temp_path {tmp}/nginx/body; proxy_temp_path {tmp}/nginx/proxy;
  fastcgi_temp_path {tmp}/nginx/fcgi; uwsgi_temp_path {tmp}/nginx/uwsgi; scgi_temp_path {tmp}/nginx/scgi;
  upstream up {{ server {ip}:8080; keepalive 256; }}
  server {{
    listen 127.0.0.1:{np_};
    listen 127.0.0.1:{nps} ssl http2;
    ssl_certificate {tmp}/tls/cert.pem; ssl_certificate_key {tmp}/tls/key.pem;
    location / {{
      proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr;
      {nginx_forwarding}
      proxy_buffering off;
    }}
  }}
}}
"""
        open(f"{tmp}/nginx/nginx.conf", "w").write(conf)
        sh("nginx", "-c", f"{tmp}/nginx/nginx.conf")
        time.sleep(0.5)

        rows = []
        for name, url in [("direct", f"http://{ip}:8080/"),
                          ("nginx", f"http://127.0.0.1:{np_}/"),
                          ("hoody-proxy", f"http://127.0.0.1:{hp}/"),
                          ("nginx TLS", f"https://127.0.0.1:{nps}/"),
                          ("hoody-proxy TLS", f"https://127.0.0.1:{hps}/")]:
            wrk(url, host, 2, a.connections)  # warm-up: pools, TLS sessions
            rows.append((name, *wrk(url, host, a.duration, a.connections)))
        r = {n: (rps, p50, p99) for n, rps, p50, p99 in rows}
        # Latency without queueing: one connection, one request at a time.
        lat1 = {}
        for name, url in [("direct", f"http://{ip}:8080/"),
                          ("nginx", f"http://127.0.0.1:{np_}/"),
                          ("hoody-proxy", f"http://127.0.0.1:{hp}/")]:
            lat1[name] = wrk(url, host, a.duration, 1)
        workers = children(proxy.pid)
        threads = [len(os.listdir(f"/proc/{p}/task")) for p in workers or [proxy.pid]]
        print(f"hoody-proxy: {len(workers) or 'no'} worker processes "
              f"({'one process' if not workers else 'under a supervisor'}), "
              f"{threads} threads each (serving, access log, route feed)")
        print(f"wrk -t2 -c{a.connections} -d{a.duration}s, upstream hoody-echo in a container")
        print(f"{'':18} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
        for n, rps, p50, p99 in rows:
            print(f"{n:18} {rps:10.0f} {p50:8.3f} {p99:8.3f}")
        print(f"hoody-proxy / nginx throughput: plain {r['hoody-proxy'][0] / r['nginx'][0]:.2f}x, "
              f"TLS {r['hoody-proxy TLS'][0] / r['nginx TLS'][0]:.2f}x")
        print("one connection (wrk -c1): p50 / p99 ms: " + ", ".join(
            f"{n} {v[1]:.3f} / {v[2]:.3f}" for n, v in lat1.items()))
        print(f"p50 added over direct at -c1: hoody-proxy {(lat1['hoody-proxy'][1] - lat1['direct'][1]) * 1000:.0f} us, "
              f"nginx {(lat1['nginx'][1] - lat1['direct'][1]) * 1000:.0f} us")
        if a.rounds:
            alternate(a, host, {("nginx", "plain"): f"http://127.0.0.1:{np_}/",
                                ("hoody-proxy", "plain"): f"http://127.0.0.1:{hp}/",
                                ("nginx", "TLS"): f"https://127.0.0.1:{nps}/",
                                ("hoody-proxy", "TLS"): f"https://127.0.0.1:{hps}/"})

        n = a.websockets
        if n and hard is not None:
            # The proxy holds two descriptors per WebSocket (client and upstream side), in
            # whichever worker the kernel gave the connection to; this script one.
            per_process = (hard - 500) // 2
            n = min(n, per_process * max(1, len(workers)), hard - 500)
            if n < a.websockets:
                print(f"open files per process capped at {hard} here (no CAP_SYS_RESOURCE): "
                      f"{n} WebSockets, the most {max(1, len(workers))} proxy process(es) can hold")
        if n:
            before = rss_each_kb(proxy.pid)
            socks = open_websockets(hp, host, n)
            time.sleep(1)
            after = rss_each_kb(proxy.pid)
            base, held = sum(before), sum(after)
            per = [len(os.listdir(f"/proc/{p}/fd")) for p in workers or [proxy.pid]]
            mib = lambda l: "[" + ", ".join(f"{k / 1024:.1f}" for k in l) + "]"
            print(f"{len(socks)} idle WebSockets through hoody-proxy: RSS of all its processes "
                  f"{base / 1024:.1f} MiB -> {held / 1024:.1f} MiB "
                  f"({(held - base) * 1024 / len(socks):,.0f} bytes each); per process "
                  f"(supervisor first, if any) {mib(before)} -> {mib(after)} MiB; "
                  f"open files per serving process {per}")
            for s in socks:
                s.close()
    finally:
        subprocess.run(["nginx", "-c", f"{tmp}/nginx/nginx.conf", "-s", "stop"],
                       stderr=subprocess.DEVNULL)
        try:
            for c in api(sock, "GET", "/api/v1/containers?limit=100")["containers"]:
                api(sock, "DELETE", f"/api/v1/containers/{c['id']}")
        except Exception as e:  # noqa: BLE001
            print(f"cleanup through the API: {e}", file=sys.stderr)
        for p in reversed(procs):
            p.terminate()
            p.wait()
        subprocess.run([f"{BIN}/hoody", "net", "uninstall"], env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["umount", f"{tmp}/ramdisk"], stderr=subprocess.DEVNULL)
        if subprocess.run(["umount", f"{tmp}/pool"], stderr=subprocess.DEVNULL).returncode == 0 \
                or not os.path.ismount(f"{tmp}/pool"):
            subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
