#!/usr/bin/env bash
# Copies the cgroup v1 (hybrid) files that collectors/cgroups/stats.ts readV1 reads, for the
# root cgroup, /docker and the named Docker containers, from this machine into
# v1-hybrid-docker/root/, plus each container's config.v2.json and the uevent of every block
# device named in their blkio files. Run as root on a hybrid host:
#   bash capture-v1-hybrid.sh lkfx-cpu lkfx-dio lkfx-oom
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/v1-hybrid-docker/root"
src=/sys/fs/cgroup
rm -rf "$out"

declare -A FILES=(
  [cpuacct]="cpuacct.usage cpuacct.stat"
  [cpu]="cpu.stat cpu.shares cpu.cfs_quota_us cpu.cfs_period_us"
  [memory]="memory.usage_in_bytes memory.max_usage_in_bytes memory.limit_in_bytes memory.soft_limit_in_bytes memory.memsw.limit_in_bytes memory.failcnt memory.oom_control memory.stat"
  [blkio]="blkio.throttle.io_service_bytes_recursive blkio.throttle.io_serviced_recursive"
  [pids]="pids.current pids.max cgroup.procs"
  [systemd]="cgroup.procs"
  [unified]="cpu.pressure memory.pressure io.pressure"
)

paths=("" "docker")
ids=()
for name in "$@"; do
  id=$(docker inspect -f '{{.Id}}' "$name")
  ids+=("$id")
  paths+=("docker/$id")
done

for p in "${paths[@]}"; do
  for c in "${!FILES[@]}"; do
    d="$src/$c/$p"
    [ -d "$d" ] || continue
    mkdir -p "$out/sys/fs/cgroup/$c/$p"
    for f in ${FILES[$c]}; do
      # The root pids cgroup has no pids.current/pids.max: copy what exists.
      [ -e "$d/$f" ] && cat "$d/$f" > "$out/sys/fs/cgroup/$c/$p/$f"
    done
  done
done
# The unified tree is recognized by its cgroup.controllers (empty on a hybrid host).
cat "$src/unified/cgroup.controllers" > "$out/sys/fs/cgroup/unified/cgroup.controllers"

for id in "${ids[@]}"; do
  mkdir -p "$out/var/lib/docker/containers/$id"
  cp /var/lib/docker/containers/"$id"/config.v2.json "$out/var/lib/docker/containers/$id/"
done

for dev in $(cat "$out"/sys/fs/cgroup/blkio/docker/*/blkio.throttle.io_service_bytes_recursive | awk '$1 ~ /^[0-9]+:[0-9]+$/ {print $1}' | sort -u); do
  mkdir -p "$out/sys/dev/block/$dev"
  cat "/sys/dev/block/$dev/uevent" > "$out/sys/dev/block/$dev/uevent"
done
