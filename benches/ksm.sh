#!/usr/bin/env bash
# What KSM saves with 20 idle Debian 13 machines that opted in (`hoody machine create --ksm`).
#
#   benches/ksm.sh [N]      (as root; default 20 machines; needs the debian-13 image)
#
# Turns KSM on for the run (faster scanning so it converges in a minute or two), boots N
# machines, waits until merging settles, prints the memory the machines use and what KSM
# merged, then removes the machines and restores the host's KSM settings (unmerging first).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
cargo build --release -q -p hoody-cli -p hoody-monitor
export HOODY_MONITOR=$PWD/target/release/hoody-monitor
H=$PWD/target/release/hoody
K=/sys/kernel/mm/ksm
old_run=$(cat $K/run); old_scan=$(cat $K/pages_to_scan); old_sleep=$(cat $K/sleep_millisecs)
names=()
cleanup() {
  for n in "${names[@]}"; do "$H" machine stop "$n" --force >/dev/null 2>&1 || true; "$H" machine rm "$n" >/dev/null 2>&1 || true; done
  echo 2 > $K/run || true   # unmerge
  echo "$old_scan" > $K/pages_to_scan; echo "$old_sleep" > $K/sleep_millisecs; echo "$old_run" > $K/run
}
trap cleanup EXIT
echo 1 > $K/run; echo 4000 > $K/pages_to_scan; echo 10 > $K/sleep_millisecs
for i in $(seq 1 "$N"); do
  n=hoodybench-ksm-$i; names+=("$n")
  "$H" machine create "$n" --ksm >/dev/null
  "$H" machine start "$n" >/dev/null
done
usage() { # bytes charged to the machines' memory cgroups
  local t=0
  for n in "${names[@]}"; do
    f=/sys/fs/cgroup/memory/hoody/$n/memory.usage_in_bytes; [ -f "$f" ] || f=/sys/fs/cgroup/hoody/$n/memory.current
    t=$((t + $(cat "$f")))
  done
  echo $t
}
echo "$N machines up; memory charged to them: $(( $(usage) / 1048576 )) MiB; waiting for KSM to settle..."
prev=-1
for _ in $(seq 1 60); do
  sleep 5
  cur=$(cat $K/pages_sharing)
  [ "$cur" -eq "$prev" ] && break
  prev=$cur
done
sharing=$(cat $K/pages_sharing); shared=$(cat $K/pages_shared)
page=$(getconf PAGESIZE)
echo "KSM: pages_shared=$shared pages_sharing=$sharing full_scans=$(cat $K/full_scans)"
echo "saved: $(( sharing * page / 1048576 )) MiB across $N idle machines ($(( sharing * page / N / 1024 )) KiB per machine); memory charged to them now: $(( $(usage) / 1048576 )) MiB"
