#!/usr/bin/env bash
# Captures Podman's real on-disk state into testdata/captured/root (and a k8s-file log into
# collectors/logs/testdata/podman/): rootful Podman 4.3.1 (Debian bookworm), cgroup v1 host,
# cgroupfs manager, runc, file event logger, `--network none`. Needs the image
# lookout-busybox (see test/e2e/podman.test.ts for how it is imported). Run as root from the
# repository root: bash collectors/podman/testdata/capture.sh
set -euo pipefail
P=(podman --cgroup-manager cgroupfs --events-backend file)
RUN=(run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --log-driver k8s-file)
out=collectors/podman/testdata/captured/root
logs=collectors/logs/testdata/podman
"${P[@]}" rm -f lookout-capture-web lookout-capture-exit3 >/dev/null 2>&1 || true
# One running, labelled, writing partial lines (printf without newline) and a line longer than
# conmon's 8 KiB buffer; one that exited with 3.
web=$("${P[@]}" "${RUN[@]}" --name lookout-capture-web --label com.example.team=payments --label app=web lookout-busybox \
  sh -c 'echo hello from podman; printf "no newline yet"; sleep 1; echo " ...now"; echo to stderr >&2; head -c 20000 /dev/zero | tr "\0" x; echo; sleep 1000')
exit3=$("${P[@]}" "${RUN[@]}" --name lookout-capture-exit3 --label app=batch lookout-busybox sh -c 'echo bye; exit 3')
sleep 3
rm -rf "$out" && mkdir -p "$out"
S=var/lib/containers/storage/overlay-containers R=run/containers/storage/overlay-containers
mkdir -p "$out/$S" "$out/run/libpod/events"
# containers.json holds every container of the host: keep the two captured.
python3 -c '
import json,sys; ids=set(sys.argv[2:]); d=json.load(open(sys.argv[1]))
print(json.dumps([c for c in d if c["id"] in ids]))' /$S/containers.json "$web" "$exit3" >"$out/$S/containers.json"
for id in "$web" "$exit3"; do
  mkdir -p "$out/$S/$id/userdata" "$out/$R/$id/userdata"
  cp /$S/$id/userdata/config.json "$out/$S/$id/userdata/"
  cp /$R/$id/userdata/pidfile "$out/$R/$id/userdata/" 2>/dev/null || true
  grep "\"ID\":\"$id\"" /run/libpod/events/events.log >>"$out/run/libpod/events/events.log" || true
done
pid=$(cat /$R/$web/userdata/pidfile)
mkdir -p "$out/proc/$pid" && cp /proc/$pid/cgroup "$out/proc/$pid/cgroup"
mkdir -p "$logs/$S/$web/userdata"
cp /$S/$web/userdata/ctr.log "$logs/$S/$web/userdata/ctr.log"
echo "web=$web exit3=$exit3 pid=$pid"
"${P[@]}" rm -f -t 0 lookout-capture-web lookout-capture-exit3 >/dev/null
