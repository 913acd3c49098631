#!/usr/bin/env python3
"""The Kit's numbers, through hoody-proxy (as root).

  benches/kit.py [--rounds 7] [--execs 200] [--duration 10]

A pool, a network, a hoodyd and a hoody-proxy of their own; containers created with hoody_kit.
  start      container start (and create) → terminal, files, exec and sqlite all answering
             through the proxy: median over --rounds, with a breakdown (the API call, then
             each service's first 200)
  terminal   POST /api/v1/terminal/execute {"command":"true"} round trip, one keep-alive
             connection through the proxy: median and p99
  files      download of a 1 GiB file: nginx (Debian package) and the files service (the same
             binary, run on the host) serving the same file on loopback, and the container's
             files service directly (over its veth) and through the proxy, same run: MB/s
  sqlite     point SELECTs per second through the proxy (wrk -c16 on the shareable read-only
             query URL), and directly

Installs nginx and wrk with apt when missing. docs/PERFORMANCE.md records a run.
"""
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
APEX = "hoody.bench"
SERVER = "bench-1"
HEALTH = {"terminal": "/api/v1/terminal/health", "files": "/api/v1/files/health",
          "exec": "/api/v1/exec/health", "sqlite": "/api/v1/sqlite/health"}


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


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Proxy:
    def __init__(self, port, pid, cid):
        self.port, self.pid, self.cid = port, pid, cid

    def host(self, svc):
        return f"{self.pid}-{self.cid}-{svc}.{SERVER}.containers.{APEX}"

    def status(self, svc, path, timeout=1.0):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            c.request("GET", path, headers={"Host": self.host(svc)})
            r = c.getresponse()
            r.read()
            c.close()
            return r.status
        except OSError:
            return 0


def wait_all(px, t0, deadline_s=30):
    """Polls every service's health through the proxy (one thread each); seconds after t0
    at which each first answered 200."""
    first = {}

    def poll(svc):
        while time.monotonic() - t0 < deadline_s:
            if px.status(f"{svc}-1", HEALTH[svc], timeout=0.5) == 200:
                first[svc] = time.monotonic() - t0
                return
            time.sleep(0.002)

    ts = [threading.Thread(target=poll, args=(s,)) for s in HEALTH]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    missing = set(HEALTH) - set(first)
    if missing:
        sys.exit(f"never answered: {missing}")
    return first


def wrk(url, host, duration, conns):
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency", "-H",
                          f"Host: {host}", url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url}: {errors.group(1)} errors\n{out}")
    return rps


def download_mbps(cmd_args):
    t = time.monotonic()
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", *cmd_args],
                         check=True, capture_output=True, text=True).stdout
    return int(out) / (time.monotonic() - t) / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--execs", type=int, default=200)
    ap.add_argument("--duration", type=int, default=10)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("benches/kit.py: run as root")
    missing = [p for p in ("nginx", "wrk") if not shutil.which(p) and not os.path.exists(f"/usr/sbin/{p}")]
    if missing:
        sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing,
           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)
    sh("cargo", "build", "--release", "-q", "--workspace", "--bins", cwd=ROOT)
    tmp = tempfile.mkdtemp(prefix="hoodytest-kitbench-", dir="/var/tmp")
    os.chmod(tmp, 0o755)
    env = dict(os.environ,
               HOODY_POOL=f"{tmp}/pool", HOODY_POOL_REGISTRY=f"{tmp}/registry.json",
               HOODY_RUN_DIR=f"{tmp}/run", HOODY_MONITOR=f"{BIN}/hoody-monitor",
               HOODY_NET_NAME="hoodytest-kitb", HOODY_NET_POOL="10.92.0.0/24",
               HOODY_NET_STATE=f"{tmp}/net", HOODY_SOCKET=f"{tmp}/hoodyd.sock", HOODY_RAMDISK_DIR=f"{tmp}/ramdisk")
    hoody = lambda *args: sh(f"{BIN}/hoody", *args, env=env, stdout=subprocess.DEVNULL)
    hoody("pool", "init", "--size", "8G")
    hoody("image", "build", "debian-13")
    sock = f"{tmp}/hoodyd.sock"
    procs = []
    nginx_conf = None
    d = subprocess.Popen([f"{BIN}/hoodyd", "--server-name", SERVER, "--domain", APEX], env=env,
                         stderr=open(f"{tmp}/hoodyd.log", "w"))
    procs.append(d)
    try:
        while not os.path.exists(sock):
            time.sleep(0.05)
        time.sleep(0.2)
        hp = free_port()
        proxy = subprocess.Popen(
            [f"{BIN}/hoody-proxy", "--domain", APEX, "--dns", "none", "--hoodyd-socket", sock,
             "--http", f"127.0.0.1:{hp}", "--https", "none", "--log-dir", f"{tmp}/proxy-logs"],
            stderr=open(f"{tmp}/proxy.log", "w"))
        procs.append(proxy)
        sid = api(sock, "GET", "/api/v1/servers")["servers"][0]["id"]
        pid = api(sock, "POST", "/api/v1/projects", {"alias": "bench"})["id"]

        # ---- start → all four services answering ---------------------------------------
        creates, starts = [], []
        cid = None
        for i in range(a.rounds):
            t0 = time.monotonic()
            c = api(sock, "POST", f"/api/v1/projects/{pid}/containers",
                    {"server_id": sid, "name": f"kit{i}", "hoody_kit": True})
            px = Proxy(hp, pid, c["id"])
            first = wait_all(px, t0)
            c = api(sock, "GET", f"/api/v1/containers/{c['id']}")
            assert c["status"] == "running", c
            creates.append(first)
            if cid is None:
                cid = c["id"]
            else:
                api(sock, "DELETE", f"/api/v1/containers/{c['id']}")
        px = Proxy(hp, pid, cid)
        for _ in range(a.rounds):
            api(sock, "POST", f"/api/v1/containers/{cid}/stop")
            t0 = time.monotonic()
            api(sock, "POST", f"/api/v1/containers/{cid}/start")
            t_api = time.monotonic() - t0
            first = wait_all(px, t0)
            first["api"] = t_api
            starts.append(first)

        def show(name, rows):
            med = {k: statistics.median(r[k] for r in rows) * 1000 for k in rows[0]}
            all4 = statistics.median(max(r[s] for s in HEALTH) for r in rows) * 1000
            parts = ", ".join(f"{k} {v:.0f}" for k, v in sorted(med.items(), key=lambda kv: kv[1]))
            print(f"{name}: all four answering through the proxy after {all4:.0f} ms (median of "
                  f"{len(rows)}); per step, ms from the call: {parts}")

        show("create", creates)
        show("start", starts)
        # The Kit idle after a fresh start: only health calls so far.
        c = http.client.HTTPConnection("127.0.0.1", hp, timeout=5)
        c.request("GET", HEALTH["files"], headers={"Host": px.host("files-1")})
        mem = json.loads(c.getresponse().read())["memory"]
        c.close()
        print(f"Kit idle RSS (release, after start): {mem['rss_bytes'] / 2**20:.1f} MiB")

        # ---- terminal execute `true` -----------------------------------------------------
        conn = http.client.HTTPConnection("127.0.0.1", hp, timeout=30)
        body = json.dumps({"command": "true"})
        hdr = {"Host": px.host("terminal-1"), "content-type": "application/json"}
        lat = []
        for i in range(a.execs + 10):
            t = time.monotonic()
            conn.request("POST", "/api/v1/terminal/execute?terminal_id=1", body=body, headers=hdr)
            r = conn.getresponse()
            data = json.loads(r.read())
            if i >= 10:
                lat.append(time.monotonic() - t)
            assert r.status == 200 and data.get("exit_code") == 0, data
        conn.close()
        print(f"terminal execute `true` through the proxy: median {statistics.median(lat) * 1000:.2f} ms, "
              f"p99 {pct(lat, 99) * 1000:.2f} ms ({a.execs} sequential calls, one connection)")

        # ---- files download vs nginx --------------------------------------------------------
        c = api(sock, "GET", f"/api/v1/containers/{cid}")
        ip = c["ip"].split("/")[0]
        big = f"{tmp}/pool/containers/{cid}/var/tmp/bench.bin"
        sh("sh", "-c", f"head -c 1073741824 /dev/urandom > {big}")
        os.makedirs(f"{tmp}/nginx", exist_ok=True)
        np_ = free_port()
        nginx_conf = f"{tmp}/nginx/nginx.conf"
        open(nginx_conf, "w").write(f"""worker_processes auto;
pid {tmp}/nginx/nginx.pid;
error_log {tmp}/nginx/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {tmp}/nginx/body; proxy_temp_path {tmp}/nginx/proxy;
  fastcgi_temp_path {tmp}/nginx/fcgi; uwsgi_temp_path {tmp}/nginx/uwsgi; scgi_temp_path {tmp}/nginx/scgi;
  server {{ listen 127.0.0.1:{np_}; root {tmp}/pool/containers/{cid}; }}
}}
""")
        sh("nginx", "-c", nginx_conf)
        time.sleep(0.3)
        fhost = px.host("files-1")
        # The same Kit binary on the host's loopback, over the same directory: the service's
        # own cost next to nginx's, without the container's veth in the path.
        kit_host = subprocess.Popen(
            [f"{BIN}/hoody-kit", "--bind", "127.0.0.3", "--services", "files", "--storage",
             f"{tmp}/kit-storage", "--files-root", f"{tmp}/pool/containers/{cid}"])
        procs.append(kit_host)
        time.sleep(0.3)
        rows = {"nginx (same file, on the host)": [], "files on the host (loopback)": [],
                "files direct": [], "files through the proxy": []}
        for _ in range(3):
            rows["nginx (same file, on the host)"].append(
                download_mbps([f"http://127.0.0.1:{np_}/var/tmp/bench.bin"]))
            rows["files on the host (loopback)"].append(
                download_mbps(["http://127.0.0.3:7701/var/tmp/bench.bin"]))
            rows["files direct"].append(download_mbps([f"http://{ip}:7701/var/tmp/bench.bin"]))
            rows["files through the proxy"].append(download_mbps(
                ["--resolve", f"{fhost}:{hp}:127.0.0.1", f"http://{fhost}:{hp}/var/tmp/bench.bin"]))
        best = {k: max(v) for k, v in rows.items()}
        ng = best["nginx (same file, on the host)"]
        print("1 GiB download, best of 3: " + ", ".join(
            f"{k} {v:.0f} MB/s ({v / ng:.2f}x nginx)" for k, v in best.items()))

        # ---- sqlite point SELECTs ------------------------------------------------------------
        shost = px.host("sqlite-1")
        conn = http.client.HTTPConnection("127.0.0.1", hp, timeout=30)
        tx = {"create_db_if_missing": True, "transaction": [
            {"statement": "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"},
            {"statement": "INSERT OR REPLACE INTO t (id, v) VALUES (?, ?)",
             "valuesBatch": [[i, f"value-{i}"] for i in range(1000)]}]}
        conn.request("POST", "/api/v1/sqlite/db?db=bench&create_db_if_missing=true",
                     body=json.dumps(tx), headers={"Host": shost, "content-type": "application/json"})
        r = conn.getresponse()
        out = r.read()
        assert r.status == 200, out
        sql = base64.b64encode(b"SELECT v FROM t WHERE id = 421").decode()
        q = f"/api/v1/sqlite/query?db=bench&sql={sql.replace('+', '%2B').replace('/', '%2F').replace('=', '%3D')}"
        conn.request("GET", q, headers={"Host": shost})
        r = conn.getresponse()
        out = r.read()
        assert r.status == 200 and b"value-421" in out, out
        wrk(f"http://127.0.0.1:{hp}{q}", shost, 2, 16)
        via = wrk(f"http://127.0.0.1:{hp}{q}", shost, a.duration, 16)
        direct = wrk(f"http://{ip}:5{q}", shost, a.duration, 16)
        print(f"sqlite point SELECTs/s (wrk -t2 -c16, GET /api/v1/sqlite/query): through the proxy "
              f"{via:.0f}, direct {direct:.0f}")
    finally:
        if nginx_conf:
            subprocess.run(["nginx", "-c", nginx_conf, "-s", "stop"], stderr=subprocess.DEVNULL)
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
