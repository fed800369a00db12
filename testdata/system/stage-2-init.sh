#!@busybox@/bin/sh
# Stage 2 of the gonixiso test system (configuration "@configName@"): check the system that booted,
# then print a marker line and power off.
export PATH=@busybox@/bin

fail() {
	echo "GONIXISO-STAGE2-FAIL config=@configName@: $*" >/dev/console
	sync
	poweroff -f
	sleep 5
	exit 1
}
echo "gonixiso-stage2: checking @out@" >/dev/console

# The booted entry is this configuration: its kernel parameters are on the command line.
cmdline=$(cat /proc/cmdline)
for p in @kernelParams@; do
	case " $cmdline " in
	*" $p "*) ;;
	*) fail "kernel parameter $p missing from: $cmdline" ;;
	esac
done
case " $cmdline " in
*" init=@out@/init "*) ;;
*) fail "init=@out@/init missing from: $cmdline" ;;
esac

# The expected store paths exist, the registration is there and names this toplevel.
for p in @out@ @expectedPaths@; do
	[ -e "$p" ] || fail "store path $p is missing"
done
[ -s /nix/store/nix-path-registration ] || fail "/nix/store/nix-path-registration is missing or empty"
grep -qx "@out@" /nix/store/nix-path-registration || fail "nix-path-registration does not list @out@"

# Every file of the closure has the sha256 recorded when Nix built it.
cd / || fail "cd /"
bad=$(sha256sum -c @manifest@/sha256sums 2>&1 | grep -v ': OK$' | head -n 5)
[ -z "$bad" ] || fail "checksums differ: $bad"
n=$(wc -l <@manifest@/sha256sums)

echo "GONIXISO-STAGE2-OK config=@configName@ files=$n toplevel=@out@" >/dev/console
sync
poweroff -f
sleep 5
