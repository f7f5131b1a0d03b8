#!/bin/bash
# Build a tiny real Linux guest with a real qemu-guest-agent, for tests of freeze/thaw,
# guest-exec and consistency (adapted from the recipe in shared/reference/guest-agent).
#
#   build_guest.sh OUTDIR DEBCACHE
#
# OUTDIR gets:
#   vmlinuz        Debian's "cloud" kernel, extracted from its .deb (nothing is installed)
#   initrd.img     busybox + qemu-ga and its libraries + virtio modules + /init; the guest
#                  runs from it (no switch_root)
#   data.qcow2     64 MiB ext4, mounted at /data in the guest (the disk tests back up)
#   scratch.qcow2  8 MiB ext4, mounted at /scratch (a second file system: freeze failures
#                  and mounts to skip)
#   MANIFEST       versions and sizes
# DEBCACHE keeps the downloaded kernel .deb between builds.
#
# The guest's /init keeps qemu-ga running in a respawn loop that `agent-down SECONDS` pauses
# (so a test can make the agent really disconnect), and installs the test scripts under
# /usr/local/bin. The fsfreeze hook (qemu-ga -F) fails or stalls a freeze on request: a file
# /run/hook.fail makes it exit 7, /run/hook.sleep holds seconds to sleep before a freeze.
#
# Host packages (scripts/bootstrap installs them): busybox-static, qemu-guest-agent,
# e2fsprogs, qemu-utils. Changing this file changes its hash, and so the cache folder.
set -euo pipefail

OUT=${1:?usage: build_guest.sh OUTDIR DEBCACHE}
DEBS=${2:?usage: build_guest.sh OUTDIR DEBCACHE}
mkdir -p "$OUT" "$DEBS"
BB=/bin/busybox
for f in "$BB" /usr/sbin/qemu-ga /usr/sbin/mkfs.ext4 /usr/bin/qemu-img; do
    [ -x "$f" ] || { echo "missing $f: run scripts/bootstrap" >&2; exit 2; }
done
WORK=$(mktemp -d /var/tmp/rsvault-guest-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# ------------------------------------------------------------------------------ kernel
kernel_deb() {
    ls "$DEBS"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort | tail -1
}
if [ -z "$(kernel_deb)" ]; then
    KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
    if [ -z "$KPKG" ]; then
        apt-get update -qq
        KPKG=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
    fi
    # apt-get download writes into the current folder; as root it warns about the sandbox
    (cd "$DEBS" && apt-get download -qq "$KPKG" 2>&1 | grep -v unsandboxed || true)
fi
KDEB=$(kernel_deb)
[ -n "$KDEB" ] || { echo "could not download the cloud kernel .deb" >&2; exit 3; }
dpkg-deb -x "$KDEB" "$WORK/k"
KVER=$(ls "$WORK/k/lib/modules")
cp "$WORK/k/boot/vmlinuz-$KVER" "$WORK/vmlinuz"

# ------------------------------------------------------------------------------ initramfs
R=$WORK/root
mkdir -p "$R"/{bin,sbin,dev,proc,sys,run,tmp,data,scratch,etc/qemu,root,usr/bin,usr/sbin,usr/local/bin,var/lib}
ln -s ../run "$R/var/run"
cp "$BB" "$R/bin/busybox"
for a in $($BB --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done

cp /usr/sbin/qemu-ga "$R/usr/sbin/qemu-ga"
for lib in $(ldd /usr/sbin/qemu-ga | awk '/=>/{print $3} /^[ \t]*\//{print $1}'); do
    mkdir -p "$R$(dirname "$lib")"
    cp "$(readlink -f "$lib")" "$R$lib"
done

# virtio transport, disks and serial ports are modules in the cloud kernel; ext4 is built in
MODS="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk virtio_console"
MD=lib/modules/$KVER
mkdir -p "$R/$MD"
for m in $MODS; do
    f=$(find "$WORK/k/$MD/kernel" -name "$m.ko*" | head -1)
    [ -n "$f" ] || { echo "module $m not found in $KDEB" >&2; exit 1; }
    rel=${f#"$WORK/k/"}
    mkdir -p "$R/$(dirname "$rel")"
    cp "$f" "$R/$rel"
done
cp "$WORK/k/$MD/modules.builtin" "$WORK/k/$MD/modules.order" "$R/$MD/" 2>/dev/null || true
$BB depmod -b "$R" "$KVER"   # the host has no kmod; busybox's depmod writes modules.dep
grep -q virtio_blk "$R/$MD/modules.dep"

# The hook runs before a freeze and after a thaw. It and the test scripts log what they do
# to /run/events.log, in order (/run is a tmpfs, never frozen).
cat > "$R/etc/qemu/fsfreeze-hook" <<'EOF'
#!/bin/sh
echo "hook $1" >> /run/events.log
if [ "$1" = freeze ]; then
  [ -e /run/hook.fail ] && { echo "fsfreeze-hook: asked to fail" >&2; exit 7; }
  [ -s /run/hook.sleep ] && sleep "$(cat /run/hook.sleep)"
fi
exit 0
EOF

cat > "$R/usr/local/bin/pre-ok.sh" <<'EOF'
#!/bin/sh
echo "pre-ok $*" >> /run/events.log
echo "pre-ok $* >> /data/app.log"; echo "pre $*" >> /data/app.log; sync
exit 0
EOF
cat > "$R/usr/local/bin/post-ok.sh" <<'EOF'
#!/bin/sh
echo "post-ok $*" >> /run/events.log
echo "post-ok $*"
exit 0
EOF
cat > "$R/usr/local/bin/script-fail.sh" <<'EOF'
#!/bin/sh
# exits with the code given as $1 (default 5) after a line on each stream
echo "script-fail $*" >> /run/events.log
echo "about to fail"; echo "database flush failed" >&2
exit "${1:-5}"
EOF
cat > "$R/usr/local/bin/script-slow.sh" <<'EOF'
#!/bin/sh
# sleeps $1 seconds (default 60): longer than a test's script timeout
echo "script-slow $*" >> /run/events.log
sleep "${1:-60}"
echo "script-slow done" >> /run/events.log
EOF
cat > "$R/usr/local/bin/script-flaky.sh" <<'EOF'
#!/bin/sh
# fails until it has been run more than $1 times (count kept in /run/flaky.count)
n=$(( $(cat /run/flaky.count 2>/dev/null || echo 0) + 1 )); echo $n > /run/flaky.count
echo "script-flaky try $n" >> /run/events.log
[ "$n" -gt "${1:-1}" ] && exit 0
echo "flaky failure $n" >&2; exit 9
EOF
# agent-down SECONDS: stop qemu-ga and keep it stopped for SECONDS (the respawn loop in /init
# waits). The kill is delayed so the guest-exec that runs this returns first.
cat > "$R/usr/local/bin/agent-down" <<'EOF'
#!/bin/sh
up=$(cut -d. -f1 /proc/uptime)
echo $(( up + ${1:-10} )) > /run/qga.down-until
setsid sh -c 'sleep 0.3; kill $(pidof qemu-ga)' </dev/null >/dev/null 2>&1 &
exit 0
EOF
chmod 755 "$R/etc/qemu/fsfreeze-hook" "$R"/usr/local/bin/*

cat > "$R/init" <<'EOF'
#!/bin/sh
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/virtio-ports
mount -t tmpfs run /run
for m in virtio_pci virtio_blk virtio_console; do modprobe $m || echo "guest-init: modprobe $m failed"; done
hostname guest
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
# devtmpfs makes no /dev/virtio-ports links: find the agent's port by its name
AGENT=
i=0
while [ -z "$AGENT" ] && [ $i -lt 100 ]; do
  for p in /sys/class/virtio-ports/*; do
    [ -e "$p/name" ] || continue
    n=$(cat "$p/name"); d=$(basename "$p")
    ln -sf "../$d" "/dev/virtio-ports/$n"
    [ "$n" = org.qemu.guest_agent.0 ] && AGENT=/dev/$d
  done
  [ -n "$AGENT" ] || { sleep 0.1; i=$((i+1)); }
done
mount -t ext4 /dev/vda /data && echo "guest-init: /data mounted" || echo "guest-init: mount /dev/vda failed"
[ -b /dev/vdb ] && { mount -t ext4 /dev/vdb /scratch && echo "guest-init: /scratch mounted"; }
echo "guest-init: agent port $AGENT"
# qemu-ga in a respawn loop; agent-down writes /run/qga.down-until (an uptime in seconds)
( while true; do
    if [ -s /run/qga.down-until ]; then
      if [ "$(cut -d. -f1 /proc/uptime)" -lt "$(cat /run/qga.down-until)" ]; then sleep 0.2; continue; fi
      rm -f /run/qga.down-until
    fi
    qemu-ga -m virtio-serial -p "$AGENT" -F/etc/qemu/fsfreeze-hook -t /run
    echo "guest-init: qemu-ga exited rc=$?"
    sleep 0.2
  done ) &
echo "GUEST-READY"
while true; do sleep 3600; done
EOF
chmod 755 "$R/init"
(cd "$R" && find . | LC_ALL=C sort | $BB cpio -o -H newc 2>/dev/null | gzip -6 > "$WORK/initrd.img")

# ------------------------------------------------------------------------------ disks
S=$WORK/stage
mkdir -p "$S/app" "$S/db"
echo "rsvault test guest data disk" > "$S/README"
head -c 2M /dev/urandom > "$S/app/blob.bin"
for i in $(seq 1 20); do echo "row $i" > "$S/db/row$i.txt"; done
mkfs.ext4 -q -F -L guestdata -d "$S" "$WORK/data.raw" 64M
qemu-img convert -f raw -O qcow2 "$WORK/data.raw" "$WORK/data.qcow2"
mkdir -p "$WORK/empty"
mkfs.ext4 -q -F -L scratch -d "$WORK/empty" "$WORK/scratch.raw" 8M
qemu-img convert -f raw -O qcow2 "$WORK/scratch.raw" "$WORK/scratch.qcow2"

{
    echo "kernel_deb=$(basename "$KDEB")"
    echo "kernel=$KVER"
    echo "qemu_ga=$(dpkg-query -W -f='${Version}' qemu-guest-agent)"
    echo "busybox=$(dpkg-query -W -f='${Version}' busybox-static)"
} > "$WORK/MANIFEST"
for f in vmlinuz initrd.img data.qcow2 scratch.qcow2 MANIFEST; do
    install -m 644 "$WORK/$f" "$OUT/$f"
done
