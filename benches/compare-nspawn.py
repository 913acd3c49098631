#!/usr/bin/env python3
"""Boot latency: hoody machine create-to-READY vs systemd-nspawn -b, same Debian 13 image,
same run, medians and ratio.

    benches/compare-nspawn.py [RUNS]        (as root; default 10 runs each)

hoody: `hoody machine create` (a btrfs snapshot of the image, an id range) then
`hoody machine start`, which returns when systemd inside sent READY=1 (unprivileged: user
namespace, idmapped rootfs). Timed from before create to the end of start.

nspawn: `systemd-nspawn -D ROOTFS -b --console=pipe` on a fresh btrfs snapshot of the same
image (privileged: nspawn's private user namespaces would chown the tree; --register=no
--keep-unit because this host runs no systemd or D-Bus), on a pty, timed until its console
prints "Reached target multi-user.target" (Debian's default target is graphical.target,
which follows right after; READY=1 comes after the default target). The snapshot for nspawn
is made before its timer starts.

Needs a pool with the debian-13 image (scripts/setup makes one); installs systemd-container
(systemd-nspawn) when it is missing.
"""
import os, pty, select, statistics, subprocess, sys, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
if subprocess.run(["sh", "-c", "command -v systemd-nspawn"], capture_output=True).returncode != 0:
    # Not in scripts/setup: on Debian 12 it also upgrades the host's systemd.
    print("installing systemd-container for systemd-nspawn", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-qq", "systemd-container"], check=True)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
subprocess.run(["cargo", "build", "--release", "-q", "-p", "hoody-cli", "-p", "hoody-monitor"], cwd=ROOT,
               check=True)
HOODY = os.path.join(ROOT, "target/release/hoody")
POOL = os.environ.get("HOODY_POOL", "/var/lib/hoody")
ENV = dict(os.environ, HOODY_POOL=POOL, HOODY_MONITOR=os.path.join(ROOT, "target/release/hoody-monitor"),
           SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")

def hoody(*args):
    return subprocess.run([HOODY, *args], env=ENV, check=True, capture_output=True, text=True).stdout

def hoody_boot(i):
    name = f"hoodybench-m{os.getpid()}-{i}"
    t0 = time.perf_counter()
    hoody("machine", "create", name)
    t1 = time.perf_counter()
    hoody("machine", "start", name)
    t2 = time.perf_counter()
    hoody("machine", "stop", name, "--force")
    hoody("machine", "rm", name)
    return t2 - t0, t1 - t0, t2 - t1

def kill_rooted_in(path):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/root").startswith(path):
                os.kill(int(pid), 9)
        except OSError:
            pass

def nspawn_boot(i):
    name = f"hoodybench-n{os.getpid()}-{i}"
    path = hoody("rootfs", "create", name, "--image", "debian-13").strip()
    # nspawn only shows the boot on a terminal: give it a pty and read the master.
    master, slave = pty.openpty()
    t0 = time.perf_counter()
    p = subprocess.Popen(["systemd-nspawn", "-q", "--register=no", "--keep-unit", "-D", path, "-M", name, "-b"],
                         env=ENV, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    elapsed, seen = None, b""
    deadline = t0 + 60
    while time.perf_counter() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        seen = (seen + chunk)[-4096:]
        if b"multi-user.target" in seen and b"Reached target" in seen:
            elapsed = time.perf_counter() - t0
            break
    # A killed nspawn leaves its container running: ask twice (the second SIGTERM means
    # "terminate now"), then make sure nothing is left rooted in the tree.
    p.terminate()
    time.sleep(0.2)
    p.terminate()
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    os.close(master)
    kill_rooted_in(path)
    hoody("rootfs", "rm", name)
    if elapsed is None:
        sys.exit("systemd-nspawn never reached multi-user.target; its console ended with: " + seen.decode(errors="replace")[-800:])
    return elapsed

h, c, s, n = [], [], [], []
for i in range(RUNS + 1):
    total, create, start = hoody_boot(i)
    ns = nspawn_boot(i)
    if i == 0:
        continue  # warm-up
    h.append(total); c.append(create); s.append(start); n.append(ns)
ms = lambda v: statistics.median(v) * 1000
print(f"hoody create-to-READY: median {ms(h):.0f} ms (create {ms(c):.0f} ms + start {ms(s):.0f} ms), {RUNS} runs")
print(f"systemd-nspawn -b to multi-user.target: median {ms(n):.0f} ms, {RUNS} runs")
print(f"ratio nspawn/hoody (medians): {statistics.median(n) / statistics.median(h):.2f}x")
