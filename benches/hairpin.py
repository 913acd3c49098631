#!/usr/bin/env python3
"""Containers talking through URLs: latency container → proxy → container against host → proxy
→ container, same run, and name resolution inside a container (as root).

  benches/hairpin.py [--requests 2000] [--rounds 5] [--names 50]

A pool, a network, a hoodyd and a hoody-proxy of their own (the proxy on every address, its
resolver for the pool on the gateway); two Debian 13 containers, B running `hoody-echo` on 8080.
Then, with curl (one process, one kept-alive connection, --requests GETs of B's http-8080 URL;
p50 of the per-request time, the first request left out):
  host → B          curl on the host → B's address directly (no proxy: the floor)
  host → proxy → B  curl on the host → hoody-proxy on 127.0.0.1 → B
  A → proxy → B     curl inside A → hoody-proxy at the gateway (hairpin) → B
alternating the last two --rounds times, printing each round's p50s and their ratio.

Name resolution inside A (curl's time_namelookup, in microseconds): --names lookups of a Kit
host name not seen before (each a question to the pool's resolver through glibc: "first"; a
container runs no caching resolver, so every getaddrinfo of a program costs this), and the same
name --requests times in one curl (curl's own cache: "cached").

docs/PERFORMANCE.md records a run.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def curl_config(url, n, resolve):
    """A curl config: `n` GETs of `url` on one connection, the time of each on stdout."""
    lines = ['silent', 'write-out = "%{time_total}\\n"']
    if resolve:
        lines.append(f'resolve = "{resolve}"')
    for _ in range(n):
        lines += [f'url = "{url}"', 'output = "/dev/null"']
    return "\n".join(lines) + "\n"


def p50_us(out):
    times = [float(x) for x in out.split()]
    assert len(times) > 2, out
    return statistics.median(times[1:]) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--names", type=int, default=50)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("benches/hairpin.py: run as root")
    sh("cargo", "build", "--release", "-q", "-p", "hoody-cli", "-p", "hoodyd-bin", "-p",
       "hoody-monitor", "-p", "hoody-proxy-bin", "-p", "hoody-kit-bin", "-p", "hoody-testkit",
       "--bins", cwd=ROOT)
    tmp = tempfile.mkdtemp(prefix="hoodytest-hairpinbench-", dir="/var/tmp")
    os.chmod(tmp, 0o755)
    hp, dp = free_port(), free_port()
    env = dict(os.environ,
               HOODY_POOL=f"{tmp}/pool", HOODY_POOL_REGISTRY=f"{tmp}/registry.json",
               HOODY_RUN_DIR=f"{tmp}/run", HOODY_MONITOR=f"{BIN}/hoody-monitor",
               HOODY_NET_NAME="hoodytest-hpb", HOODY_NET_POOL="10.93.0.0/24",
               HOODY_NET_STATE=f"{tmp}/net", HOODY_SOCKET=f"{tmp}/hoodyd.sock", HOODY_RAMDISK_DIR=f"{tmp}/ramdisk",
               HOODY_PROXY_HTTP=f"0.0.0.0:{hp}", HOODY_PROXY_HTTPS="none",
               HOODY_PROXY_DNS=f"169.254.1.1:{dp}", HOODY_PROXY_LOG_DIR=f"{tmp}/logs")
    hoody = lambda *args, **kw: subprocess.run([f"{BIN}/hoody", *args], env=env, **kw)
    hoody("pool", "init", "--size", "6G", check=True, stdout=subprocess.DEVNULL)
    hoody("image", "build", "debian-13", check=True, stdout=subprocess.DEVNULL)
    sock = f"{tmp}/hoodyd.sock"
    procs = []
    procs.append(subprocess.Popen([f"{BIN}/hoodyd", "--server-name", "bench-1", "--domain", APEX],
                                  env=env, stderr=open(f"{tmp}/hoodyd.log", "w")))
    try:
        while not os.path.exists(sock):
            time.sleep(0.05)
        time.sleep(0.2)
        procs.append(subprocess.Popen(
            [f"{BIN}/hoody-proxy", "--domain", APEX, "--http", f"0.0.0.0:{hp}", "--https", "none",
             "--dns", f"169.254.1.1:{dp}", "--hoodyd-socket", sock, "--log-dir", f"{tmp}/logs"],
            env=env, stderr=open(f"{tmp}/proxy.log", "w")))
        sid = api(sock, "GET", "/api/v1/servers")["servers"][0]["id"]
        pid = api(sock, "POST", "/api/v1/projects", {"alias": "bench"})["id"]
        made = {}
        for name in ("box-a", "box-b"):
            c = api(sock, "POST", f"/api/v1/projects/{pid}/containers",
                    {"server_id": sid, "name": name, "hoody_kit": True})
            while c["status"] == "creating":
                time.sleep(0.1)
                c = api(sock, "GET", f"/api/v1/containers/{c['id']}")
            assert c["status"] == "running", c
            made[name] = c
        ca, cb = made["box-a"], made["box-b"]
        bip = cb["ip"].split("/")[0]
        shutil.copy(f"{BIN}/hoody-echo", f"{tmp}/pool/containers/{cb['id']}/usr/local/bin/hoody-echo")
        hoody("machine", "exec", cb["id"], "--", "systemd-run", "--unit", "echo",
              "/usr/local/bin/hoody-echo", "--listen", "0.0.0.0:8080", check=True,
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        name = f"{pid}-{cb['id']}-http-8080.bench-1.containers.{APEX}"
        url = f"http://{name}:{hp}/"
        for _ in range(100):
            r = subprocess.run(["curl", "-sf", "--resolve", f"{name}:{hp}:127.0.0.1", url],
                               capture_output=True)
            if r.returncode == 0:
                break
            time.sleep(0.1)

        def host(target_url, resolve):
            cfg = curl_config(target_url, a.requests, resolve)
            return p50_us(sh("curl", "-K", "-", input=cfg, capture_output=True, text=True).stdout)

        def inside(cfg):
            return hoody("machine", "exec", ca["id"], "--", "curl", "-K", "-", input=cfg,
                         capture_output=True, text=True, check=True).stdout

        floor = host(f"http://{bip}:8080/", None)
        print(f"host → B directly (no proxy): p50 {floor:.0f} µs")
        print(f"{'round':>5}  {'host → proxy → B':>18}  {'A → proxy → B':>15}  ratio")
        ratios = []
        for i in range(a.rounds):
            order = ["host", "a"] if i % 2 == 0 else ["a", "host"]
            got = {}
            for who in order:
                if who == "host":
                    got[who] = host(url, f"{name}:{hp}:127.0.0.1")
                else:
                    # Through the pool's resolver, as a program inside uses the URL.
                    got[who] = p50_us(inside(curl_config(url, a.requests, None)))
            ratios.append(got["a"] / got["host"])
            print(f"{i + 1:>5}  {got['host']:>15.0f} µs  {got['a']:>12.0f} µs  {ratios[-1]:.2f}")
        gm = statistics.geometric_mean(ratios)
        print(f"A → proxy → B / host → proxy → B: geometric mean {gm:.2f} over {a.rounds} rounds")

        # Name resolution inside A.
        first = []
        for i in range(a.names):
            n = f"{pid}-{cb['id']}-terminal-{i + 2}.bench-1.containers.{APEX}"
            out = inside(f'silent\nwrite-out = "%{{time_namelookup}}\\n"\nurl = "http://{n}:{hp}/"\n'
                         'output = "/dev/null"\n')
            first.append(float(out.split()[0]) * 1e6)
        lines = ['silent', 'write-out = "%{time_namelookup}\\n"']
        n = f"{pid}-{cb['id']}-terminal-1.bench-1.containers.{APEX}"
        for _ in range(a.requests):
            lines += [f'url = "http://{n}:{hp}/api/v1/terminal/health"', 'output = "/dev/null"']
        cached = [float(x) * 1e6 for x in inside("\n".join(lines) + "\n").split()[1:]]
        print(f"name resolution inside A (a Kit host): first p50 {statistics.median(first):.0f} µs "
              f"(min {min(first):.0f}, max {max(first):.0f}, {a.names} names); "
              f"cached (curl's own cache) p50 {statistics.median(cached):.1f} µs")
    finally:
        try:
            for c in api(sock, "GET", "/api/v1/containers?limit=100")["containers"]:
                api(sock, "DELETE", f"/api/v1/containers/{c['id']}")
        except Exception as e:  # noqa: BLE001
            print(f"cleanup through the API: {e}", file=sys.stderr)
        for p in reversed(procs):
            p.terminate()
            p.wait()
        hoody("net", "uninstall", stdout=subprocess.DEVNULL)
        subprocess.run(["umount", f"{tmp}/ramdisk"], stderr=subprocess.DEVNULL)
        if subprocess.run(["umount", f"{tmp}/pool"], stderr=subprocess.DEVNULL).returncode == 0 \
                or not os.path.ismount(f"{tmp}/pool"):
            subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
