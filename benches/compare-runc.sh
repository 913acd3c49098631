#!/usr/bin/env bash
# Compares `hoody run` with `runc run` (Debian's runc) of /bin/true, in the same run, on the
# same busybox rootfs with the same namespaces (mount, pid, uts, ipc, net, cgroup; no user
# namespace, no network setup), and prints both medians and the ratio.
#
#   sudo benches/compare-runc.sh [RUNS]      (default 300 runs each, after 20 warm-ups)
#
# Needs: runc, hyperfine, busybox-static, python3 (scripts/setup installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-300}

[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
for t in runc hyperfine python3; do
  command -v "$t" >/dev/null || { echo "$t not found (scripts/setup installs it)" >&2; exit 1; }
done

cargo build --release -q -p hoody-cli
HOODY=$PWD/target/release/hoody

work=$(mktemp -d /var/tmp/hoodybench.XXXXXX)
trap 'runc delete -f hoodybench-runc >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
rootfs=$work/bundle/rootfs
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for a in true sh; do ln -s busybox "$rootfs/bin/$a"; done

(cd "$work/bundle" && runc spec)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
c["root"]["readonly"] = False
ns = {n["type"] for n in c["linux"]["namespaces"]}
for t in ["pid", "network", "ipc", "uts", "mount", "cgroup"]:
    if t not in ns:
        c["linux"]["namespaces"].append({"type": t})
json.dump(c, open(p, "w"), indent=1)
PY

hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$work/result.json" \
  -n "hoody run" "$HOODY run --rootfs $rootfs --net none -- /bin/true" \
  -n "runc run" "runc run --bundle $work/bundle hoodybench-runc" >/dev/null

python3 - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
h, c = r["hoody run"], r["runc run"]
ms = lambda s: s * 1000
print(f"hoody run /bin/true: median {ms(h['median']):.2f} ms (mean {ms(h['mean']):.2f} ± {ms(h['stddev']):.2f}, {len(h['times'])} runs)")
print(f"runc  run /bin/true: median {ms(c['median']):.2f} ms (mean {ms(c['mean']):.2f} ± {ms(c['stddev']):.2f}, {len(c['times'])} runs)")
print(f"ratio runc/hoody (medians): {c['median'] / h['median']:.1f}x")
PY
