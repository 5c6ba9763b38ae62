#!/usr/bin/env bash
# Starts what the end-to-end tests need, safely: dockerd without a bridge, iptables or
# masquerading (containers run with --network none), and the busybox test image built
# from Debian's busybox-static (no registry is reachable). Idempotent.
set -euo pipefail

if ! docker info >/dev/null 2>&1; then
  mkdir -p /var/log/lookout-ci
  nohup dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false --live-restore \
    --host unix:///var/run/docker.sock >/var/log/lookout-ci/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 /var/log/lookout-ci/dockerd.log; exit 1; }
fi

if ! docker image inspect lookout-busybox:latest >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/dev" "$rootfs/proc" "$rootfs/sys" "$rootfs/tmp" "$rootfs/etc"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
  done
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' - lookout-busybox:latest >/dev/null
  rm -rf "$rootfs"
fi
# The same root filesystem for Podman (rootful), when it is installed. systemd is not PID 1 in
# CI: the cgroupfs manager and the file event logger (see test/e2e/podman.test.ts).
if command -v podman >/dev/null 2>&1; then
  P=(podman --events-backend file)
  [ -d /run/systemd/system ] || P+=(--cgroup-manager cgroupfs)
  if ! "${P[@]}" image exists lookout-busybox:latest; then
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin" "$rootfs/dev" "$rootfs/proc" "$rootfs/sys" "$rootfs/tmp" "$rootfs/etc"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
      [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
    done
    tar -C "$rootfs" -c . | "${P[@]}" import -c 'ENV PATH=/bin' - lookout-busybox:latest >/dev/null
    rm -rf "$rootfs"
  fi
fi
echo "services ready: dockerd $(docker version -f '{{.Server.Version}}'), image lookout-busybox"
