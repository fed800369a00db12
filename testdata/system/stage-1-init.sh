#!/bin/busybox sh
# Stage 1 of the gonixiso test system: a busybox initrd that follows NixOS's live-ISO contract.
#
#   root=LABEL=<volume id>  the ISO 9660 volume, mounted read-only at /iso
#   /iso/nix-store.squashfs loop-mounted at /nix/.ro-store
#   /nix/.rw-store          a tmpfs; /nix/store is an overlay of the two
#   init=<toplevel>/init    stage 2, run after switch_root
#
# Every failure prints one line that starts with GONIXISO-STAGE1-FAIL and powers off, so that the
# boot harness sees a distinct failure at once.
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
	echo "GONIXISO-STAGE1-FAIL: $*" >/dev/console
	sync
	poweroff -f
	sleep 5
	exit 1
}
say() { echo "gonixiso-stage1: $*" >/dev/console; }

mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"

init=
label=
for o in $(cat /proc/cmdline); do
	case $o in
	init=*) init=${o#init=} ;;
	root=LABEL=*) label=${o#root=LABEL=} ;;
	esac
done
[ -n "$init" ] || fail "no init= on the kernel command line"
[ -n "$label" ] || fail "no root=LABEL= on the kernel command line"
say "init=$init label=$label"

# Load the modules, dependencies first. A module may fail to load where its hardware is absent.
kver=$(uname -r)
while read -r m; do
	insmod "/lib/modules/$kver/$m" 2>/dev/null || true
done <"/lib/modules/$kver/load-order"

# Wait (bounded) for a block device with the label: USB disks appear about a second late.
dev=
i=0
while [ $i -lt 60 ]; do
	dev=$(findfs "LABEL=$label" 2>/dev/null) && [ -n "$dev" ] && break
	dev=
	sleep 0.5
	i=$((i + 1))
done
[ -n "$dev" ] || fail "no block device with label $label after 30 s ($(ls /sys/class/block | tr '\n' ' '))"
say "found $label on $dev"

mkdir -p /mnt-root
mount -t tmpfs -o mode=0755 tmpfs /mnt-root || fail "mount tmpfs at /"
mkdir -p /mnt-root/iso /mnt-root/nix/.ro-store /mnt-root/nix/.rw-store /mnt-root/nix/store
mount -t iso9660 -o ro "$dev" /mnt-root/iso || fail "mount $dev at /iso"
[ -f /mnt-root/iso/nix-store.squashfs ] || fail "no /iso/nix-store.squashfs on $dev"
mount -t squashfs -o loop,ro /mnt-root/iso/nix-store.squashfs /mnt-root/nix/.ro-store ||
	fail "mount /iso/nix-store.squashfs at /nix/.ro-store"
mount -t tmpfs -o mode=0755 tmpfs /mnt-root/nix/.rw-store || fail "mount tmpfs at /nix/.rw-store"
mkdir -m 0700 -p /mnt-root/nix/.rw-store/store /mnt-root/nix/.rw-store/work
mount -t overlay overlay \
	-o lowerdir=/mnt-root/nix/.ro-store,upperdir=/mnt-root/nix/.rw-store/store,workdir=/mnt-root/nix/.rw-store/work \
	/mnt-root/nix/store || fail "mount the overlay at /nix/store"
[ -e "/mnt-root$init" ] || fail "stage 2 $init is not in the store"

mkdir -p /mnt-root/proc /mnt-root/sys /mnt-root/dev /mnt-root/tmp
mount --move /proc /mnt-root/proc
mount --move /sys /mnt-root/sys
mount --move /dev /mnt-root/dev
say "switching to $init"
exec switch_root /mnt-root "$init"
fail "switch_root to $init"
