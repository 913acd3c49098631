#!/usr/bin/env python3
"""Scoped tokens and permission-carrying lists, as root, on a pool and network of their own.

  benches/tokens.py [--total 500] [--creates 40] [--runs 200]

1. The list of --total containers with `include_proxy_permissions=true` (each container's and
   its project's permission documents embedded; the project and every other container have
   one): one page of 100 over hoodyd's unix socket, median and p99 of --runs, beside the same
   page without the flag in the same run (the anchor), so the ratio is what the documents add.
   Target (issue 16): under 50 ms a page.
2. Create with a scoped token vs a full token over TCP: POST /api/v1/projects/{id}/containers
   (returns with status `creating`; the machine is made on its own thread), alternating a
   full-access token on the bare host and an `external_customer` token limited to a realm on
   `{realm}.api.…` (its route rule, realm check of the project and feature defaults run on
   every request), median and p90 of --creates each, and the ratio.

Prints a table; docs/PERFORMANCE.md records a run.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
REALM = "5b5b5b5b5b5b5b5b5b5b5b5b"


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("hoodyd")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def send(conn, method, path, body=None, headers=None):
    h = {"content-type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=h)
    r = conn.getresponse()
    data = r.read()
    v = json.loads(data) if data else None
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {v}")
    return v["data"]


def call(sock, method, path, body=None, headers=None):
    c = UnixHTTP(sock)
    try:
        return send(c, method, path, body, headers)
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--total", type=int, default=500)
    ap.add_argument("--creates", type=int, default=40)
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("benches/tokens.py: run as root")
    subprocess.run(["cargo", "build", "--release", "-q", "--workspace", "--bins"],
                   cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="hoodytest-tokbench-", dir="/var/tmp")
    os.chmod(tmp, 0o755)
    env = dict(os.environ,
               HOODY_POOL=f"{tmp}/pool", HOODY_POOL_REGISTRY=f"{tmp}/registry.json",
               HOODY_RUN_DIR=f"{tmp}/run", HOODY_MONITOR=f"{BIN}/hoody-monitor",
               HOODY_NET_NAME="hoodytest-tokb", HOODY_NET_POOL="10.91.0.0/20",
               HOODY_NET_STATE=f"{tmp}/net", HOODY_SOCKET=f"{tmp}/hoodyd.sock",
               HOODY_RAMDISK_DIR=f"{tmp}/ramdisk")
    hoody = lambda *args: subprocess.run([f"{BIN}/hoody", *args], env=env, check=True,
                                         stdout=subprocess.DEVNULL)
    hoody("pool", "init", "--size", "20G")
    hoody("image", "build", "debian-13")
    sock = f"{tmp}/hoodyd.sock"
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = subprocess.Popen([f"{BIN}/hoodyd", "--server-name", "bench-1",
                          "--listen", f"127.0.0.1:{port}"], env=env,
                         stderr=open(f"{tmp}/hoodyd.log", "w"))
    quiet = lambda sid, name: {"server_id": sid, "name": name, "autostart": False,
                               "hoody_kit": False}
    try:
        while not os.path.exists(sock):
            time.sleep(0.02)
        time.sleep(0.2)
        sid = call(sock, "GET", "/api/v1/servers")["servers"][0]["id"]
        pid = call(sock, "POST", "/api/v1/projects",
                   {"alias": "bench", "realm_ids": [REALM]})["id"]
        doc = {"If-Match": "file:v0"}
        call(sock, "PATCH", f"/api/v1/projects/{pid}/proxy/permissions/default",
             {"default": "allow"}, doc)

        # 1. Lists.
        for i in range(a.total):
            c = call(sock, "POST", f"/api/v1/projects/{pid}/containers", quiet(sid, f"idle-{i}"))
            if i % 2 == 0:
                call(sock, "PATCH", f"/api/v1/containers/{c['id']}/proxy/permissions/default",
                     {"default": "deny"}, doc)
        while any(c["status"] == "creating" for c in
                  call(sock, "GET", "/api/v1/containers?limit=100&sort_by=status")["containers"]):
            time.sleep(0.5)
        page = call(sock, "GET", "/api/v1/containers?limit=100&include_proxy_permissions=true")
        assert all(c["proxy_permissions"]["project"] is not None for c in page["containers"])
        assert page["pagination"]["total"] == a.total
        with_ms, without_ms = [], []
        for _ in range(a.runs):
            t = time.perf_counter()
            call(sock, "GET", "/api/v1/containers?limit=100&include_proxy_permissions=true")
            with_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            call(sock, "GET", "/api/v1/containers?limit=100")
            without_ms.append((time.perf_counter() - t) * 1000)

        # 2. Creates with a full and a scoped token, alternating.
        full = call(sock, "POST", "/api/v1/auth/tokens", {"alias": "bench full"})["token"]
        scoped = call(sock, "POST", "/api/v1/auth/tokens",
                      {"alias": "bench scoped", "permission_template": "external_customer",
                       "realm_ids": [REALM], "allow_no_realm": False})["token"]
        conn_full = http.client.HTTPConnection("127.0.0.1", port)
        conn_scoped = http.client.HTTPConnection("127.0.0.1", port)
        full_ms, scoped_ms = [], []
        pair = [(conn_full, full, "api.localhost", full_ms, "f"),
                (conn_scoped, scoped, f"{REALM}.api.localhost", scoped_ms, "s")]
        for i in range(a.creates):
            # Alternate which goes first; let each machine be made before the next request,
            # so that only the request is measured, on an idle server both times.
            for (conn, tok, host, out, tag) in (pair if i % 2 == 0 else pair[::-1]):
                t = time.perf_counter()
                send(conn, "POST", f"/api/v1/projects/{pid}/containers",
                     quiet(sid, f"tok-{tag}-{i}"),
                     {"Authorization": f"Bearer {tok}", "Host": host})
                out.append((time.perf_counter() - t) * 1000)
                while any(c["status"] == "creating" for c in
                          call(sock, "GET", "/api/v1/containers?limit=10")["containers"]):
                    time.sleep(0.02)
                time.sleep(0.05)

        med = statistics.median
        p = lambda xs, q: sorted(xs)[min(len(xs) - 1, int(len(xs) * q))]
        print(f"list {a.total}, page of 100, include_proxy_permissions  median {med(with_ms):6.2f} ms  p99 {p(with_ms, .99):6.2f} ms")
        print(f"list {a.total}, page of 100 (anchor, no documents)      median {med(without_ms):6.2f} ms  p99 {p(without_ms, .99):6.2f} ms  ratio {med(with_ms) / med(without_ms):.2f}x")
        print(f"create (POST) with a full token                  median {med(full_ms):6.2f} ms  p90 {p(full_ms, .9):6.2f} ms  (n={a.creates})")
        print(f"create (POST) with a scoped token (realm host)   median {med(scoped_ms):6.2f} ms  p90 {p(scoped_ms, .9):6.2f} ms  ratio {med(scoped_ms) / med(full_ms):.2f}x")
    finally:
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                pg = call(sock, "GET", "/api/v1/containers?limit=100")
                if not pg["containers"]:
                    break
                for c in pg["containers"]:
                    try:
                        call(sock, "DELETE", f"/api/v1/containers/{c['id']}")
                    except RuntimeError as e:
                        if "CONTAINER_BUSY" not in str(e):
                            raise
                time.sleep(0.2)
        except Exception as e:  # noqa: BLE001
            print(f"cleanup through the API: {e}", file=sys.stderr)
        d.terminate()
        d.wait()
        subprocess.run([f"{BIN}/hoody", "net", "uninstall"], env=env, stdout=subprocess.DEVNULL)
        unmounted = [subprocess.run(["umount", f"{tmp}/{q}"], stderr=subprocess.DEVNULL).returncode == 0
                     or not os.path.ismount(f"{tmp}/{q}") for q in ("pool", "ramdisk")]
        if all(unmounted):
            subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
