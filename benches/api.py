#!/usr/bin/env python3
"""hoodyd benchmarks, as root, on a pool and network of their own.

  benches/api.py [--creates 20] [--running 100] [--total 500]

1. API create-to-running: POST /projects/{id}/containers, then GET until `running`
   (median over --creates sequential creates), beside the anchor in the same run: the
   machine layer alone (`hoody machine create` + `hoody machine start`, which waits for
   systemd's READY=1), so the ratio is what the API, the state database and the polling add.
   The anchor runs on a second pool of its own: hoodyd is the one writer of the pool it
   serves, and refuses direct machine verbs there.
2. hoodyd's memory (VmRSS) idle and with --running containers running.
3. The list of --total containers (state only: no machine is asked): GET
   /api/v1/containers?limit=100 (the API's page cap) and all pages, medians over 200 runs.

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


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("hoodyd")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def call(sock, method, path, body=None):
    c = UnixHTTP(sock)
    c.request(method, path, body=None if body is None else json.dumps(body),
              headers={"content-type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    v = json.loads(data) if data else None
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {v}")
    return v["data"]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--creates", type=int, default=20)
    ap.add_argument("--running", type=int, default=100)
    ap.add_argument("--total", type=int, default=500)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("benches/api.py: run as root")
    subprocess.run(["cargo", "build", "--release", "-q", "--workspace", "--bins"],
                   cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="hoodytest-apibench-", dir="/var/tmp")
    os.chmod(tmp, 0o755)  # machines (user namespaces) reach their sockets below it
    env = dict(os.environ,
               HOODY_POOL=f"{tmp}/pool", HOODY_POOL_REGISTRY=f"{tmp}/registry.json",
               HOODY_RUN_DIR=f"{tmp}/run", HOODY_MONITOR=f"{BIN}/hoody-monitor",
               HOODY_NET_NAME="hoodytest-apib", HOODY_NET_POOL="10.90.0.0/20",
               HOODY_NET_STATE=f"{tmp}/net", HOODY_SOCKET=f"{tmp}/hoodyd.sock", HOODY_RAMDISK_DIR=f"{tmp}/ramdisk")
    hoody = lambda *args: subprocess.run([f"{BIN}/hoody", *args], env=env, check=True,
                                         stdout=subprocess.DEVNULL)
    hoody("pool", "init", "--size", "40G")
    hoody("image", "build", "debian-13")
    anchor_env = dict(env, HOODY_POOL=f"{tmp}/anchor-pool")
    anchor = lambda *args: subprocess.run([f"{BIN}/hoody", *args], env=anchor_env, check=True,
                                          stdout=subprocess.DEVNULL)
    anchor("pool", "init", "--size", "10G")
    anchor("image", "build", "debian-13")
    sock = f"{tmp}/hoodyd.sock"
    d = subprocess.Popen([f"{BIN}/hoodyd", "--server-name", "bench-1"], env=env,
                         stderr=open(f"{tmp}/hoodyd.log", "w"))
    try:
        while not os.path.exists(sock):
            time.sleep(0.02)
        time.sleep(0.2)
        sid = call(sock, "GET", "/api/v1/servers")["servers"][0]["id"]
        pid = call(sock, "POST", "/api/v1/projects", {"alias": "bench"})["id"]
        idle_rss = rss_kb(d.pid)

        # 1. create-to-running, API vs machine layer, alternating.
        api_ms, layer_ms = [], []
        for i in range(a.creates):
            t = time.perf_counter()
            c = call(sock, "POST", f"/api/v1/projects/{pid}/containers",
                     {"server_id": sid, "name": f"create-{i}"})
            while True:
                s = call(sock, "GET", f"/api/v1/containers/{c['id']}")["status"]
                if s != "creating":
                    break
                time.sleep(0.002)
            api_ms.append((time.perf_counter() - t) * 1000)
            assert s == "running", call(sock, "GET", f"/api/v1/containers/{c['id']}")
            name = f"hoodytest-layer-{i}"
            t = time.perf_counter()
            anchor("machine", "create", name, "--image", "debian-13")
            anchor("machine", "start", name)
            layer_ms.append((time.perf_counter() - t) * 1000)
            subprocess.run([f"{BIN}/hoody", "machine", "stop", "--force", name], env=anchor_env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            anchor("machine", "rm", name)
        api_med, layer_med = statistics.median(api_ms), statistics.median(layer_ms)

        # 2. memory with N running.
        have = a.creates
        for i in range(have, a.running):
            call(sock, "POST", f"/api/v1/projects/{pid}/containers",
                 {"server_id": sid, "name": f"run-{i}"})
        while True:
            cs = []
            for page in range(1, 100):
                p = call(sock, "GET", f"/api/v1/containers?limit=100&page={page}")
                cs += p["containers"]
                if page >= p["pagination"]["totalPages"]:
                    break
            if all(c["status"] != "creating" for c in cs):
                break
            time.sleep(0.5)
        running = sum(c["status"] == "running" for c in cs)
        busy_rss = rss_kb(d.pid)

        # 3. list of `total` containers (the rest created stopped: state only).
        for i in range(len(cs), a.total):
            call(sock, "POST", f"/api/v1/projects/{pid}/containers",
                 {"server_id": sid, "name": f"idle-{i}", "autostart": False})
        while any(c["status"] == "creating" for c in
                  call(sock, "GET", "/api/v1/containers?limit=100&sort_by=status")["containers"]):
            time.sleep(0.5)
        total = call(sock, "GET", "/api/v1/containers?limit=1")["pagination"]["total"]
        page_ms, all_ms = [], []
        for _ in range(200):
            t = time.perf_counter()
            call(sock, "GET", "/api/v1/containers?limit=100")
            page_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            n = 0
            for page in range(1, 100):
                p = call(sock, "GET", f"/api/v1/containers?limit=100&page={page}")
                n += len(p["containers"])
                if page >= p["pagination"]["totalPages"]:
                    break
            all_ms.append((time.perf_counter() - t) * 1000)
        assert n == total
        list_rss = rss_kb(d.pid)

        print(f"create-to-running via the API      median {api_med:7.1f} ms  (n={a.creates})")
        print(f"machine create+start (anchor)      median {layer_med:7.1f} ms  ratio {api_med / layer_med:.2f}x")
        print(f"hoodyd RSS idle                    {idle_rss / 1024:7.1f} MiB")
        print(f"hoodyd RSS with {running} running      {busy_rss / 1024:7.1f} MiB")
        print(f"list {total} containers, one page of 100   median {statistics.median(page_ms):6.2f} ms  p99 {sorted(page_ms)[197]:6.2f} ms")
        print(f"list {total} containers, all pages         median {statistics.median(all_ms):6.2f} ms  p99 {sorted(all_ms)[197]:6.2f} ms")
        print(f"hoodyd RSS after the list runs     {list_rss / 1024:7.1f} MiB")
    finally:
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                p = call(sock, "GET", "/api/v1/containers?limit=100")
                if not p["containers"]:
                    break
                for c in p["containers"]:
                    try:
                        call(sock, "DELETE", f"/api/v1/containers/{c['id']}")
                    except RuntimeError as e:
                        # A create still finishing is CONTAINER_BUSY: the next pass gets it.
                        if "CONTAINER_BUSY" not in str(e):
                            raise
                time.sleep(0.2)
        except Exception as e:  # noqa: BLE001
            print(f"cleanup through the API: {e}", file=sys.stderr)
        d.terminate()
        d.wait()
        subprocess.run([f"{BIN}/hoody", "net", "uninstall"], env=env, stdout=subprocess.DEVNULL)
        unmounted = [subprocess.run(["umount", f"{tmp}/{p}"], stderr=subprocess.DEVNULL).returncode == 0
                     or not os.path.ismount(f"{tmp}/{p}") for p in ("pool", "anchor-pool", "ramdisk")]
        if all(unmounted):
            subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
