#!/bin/sh
# Starts the packaged unit under a real systemd: a throwaway Debian 12 root (debootstrap
# minbase with systemd) booted by systemd-nspawn, so systemd is PID 1 in it even where the
# machine itself runs no systemd. In it, at boot, a probe unit: the service refuses to start
# before `node init` (its journal line), then a node is set up and admitted, the service
# starts and runs under its sandbox (its user, no capabilities, no new privileges, a
# system-call filter), `doctor` passes, and a stop flushes the store and exits 0. The root
# is deleted at the end.
# Needs root, debootstrap, systemd-container (systemd-nspawn) and Debian's package mirror;
# packaging/build-deb.sh first. About 5 minutes, most of it debootstrap.
set -eu
cd "$(dirname "$0")/.."
deb=$(ls -t target/debian/reservnod_*.deb | head -n 1)
fail() { echo "FAILED: $*" >&2; exit 1; }
root=$(mktemp -d /var/tmp/reservnod-boot.XXXXXX)
chmod 755 "$root"
cleanup() {
    umount "$root/proc" 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT
echo "== debootstrap (minbase, systemd)"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$root" >"$root.log" 2>&1 \
    || { tail -n 20 "$root.log"; rm -f "$root.log"; fail debootstrap; }
rm -f "$root.log"
cp "$deb" "$root/tmp/reservnod.deb"
chmod 644 "$root/tmp/reservnod.deb"
mount -t proc proc "$root/proc"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/reservnod.deb' >/dev/null \
    || fail "apt-get install of the package"
umount "$root/proc"
echo "== systemd-analyze verify, with the package installed"
systemd-analyze verify --man=no --root="$root" reservnod.service || fail "systemd-analyze verify"

mkdir -p "$root/usr/local/sbin"
cat >"$root/usr/local/sbin/probe.sh" <<'EOF'
#!/bin/sh
exec >/root/probe.txt 2>&1
as_node() { setpriv --reuid=reservnod --regid=reservnod --clear-groups "$@"; }
echo "== $(systemctl --version | head -n 1)"
echo "== start before setup"
systemctl start reservnod
systemctl show reservnod -p ActiveState -p Result
echo "== setup"
cd /tmp
reservnod admin --admin-dir /tmp/admin init --region Test >/dev/null
reservnod admin --admin-dir /tmp/admin unit add --id SE2321000081-AVD12 --name "Avd 12" --kind ward --municipality 1080 >/dev/null
install -o reservnod -m 0600 /tmp/admin/units/SE2321000081-AVD12.key /tmp/unit.key
cp /tmp/admin/roster.rsv /tmp/roster.rsv && chmod 644 /tmp/roster.rsv
id=$(as_node reservnod node init --data-dir /var/lib/reservnod --unit-key /tmp/unit.key --roster /tmp/roster.rsv 2>&1 \
    | sed -n 's/.*Nod-id: *\([A-Z0-9-]*\).*/\1/p' | head -n 1)
reservnod admin --admin-dir /tmp/admin node add --node-id "$id" --unit SE2321000081-AVD12 --name "Avd 12 box" >/dev/null
cp /tmp/admin/roster.rsv /tmp/roster2.rsv && chmod 644 /tmp/roster2.rsv
as_node reservnod node install-roster --data-dir /var/lib/reservnod /tmp/roster2.rsv >/dev/null
echo "== start"
systemctl start reservnod
sleep 5
systemctl show reservnod -p ActiveState -p SubState -p NRestarts
echo "== doctor"
reservnod doctor
echo "doctor exit $?"
echo "== sandbox"
grep -E "^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):" "/proc/$(systemctl show reservnod -p MainPID --value)/status"
echo "== stop"
systemctl stop reservnod
systemctl show reservnod -p ActiveState -p Result -p ExecMainStatus
echo "== journal"
journalctl -u reservnod --no-pager -o cat
echo "== done"
systemctl poweroff
EOF
chmod 755 "$root/usr/local/sbin/probe.sh"
cat >"$root/etc/systemd/system/probe.service" <<'EOF'
[Unit]
Description=reservnod boot probe
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/probe.sh
[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/probe.service "$root/etc/systemd/system/multi-user.target.wants/probe.service"

echo "== boot (systemd-nspawn; the probe powers the container off)"
# --register=no --keep-unit: no systemd on the host to register with or make a scope in.
timeout 300 systemd-nspawn -D "$root" -b --register=no --keep-unit --quiet --console=pipe >/dev/null 2>&1 \
    || fail "the container did not boot and power off within 5 minutes"
out="$root/root/probe.txt"
[ -f "$out" ] || fail "the probe did not run"
cat "$out"
expect() { grep -q -- "$1" "$out" || fail "$2"; }
expect "Result=exec-condition" "a node that is not set up was not refused by the start condition"
expect "this node is not set up: run" "the refusal's journal line"
expect "SubState=running" "the service does not run once set up"
expect "NRestarts=0" "the service restarted"
expect "doctor exit 0" "doctor fails on the packaged, running node"
expect "hålls av den här noden" "doctor does not see the port held by the service"
expect "CapEff:	0000000000000000" "the service has capabilities"
expect "NoNewPrivs:	1" "NoNewPrivileges is not in force"
expect "Seccomp:	2" "no system-call filter"
expect "stopped; store flushed" "the stop did not flush the store"
expect "ExecMainStatus=0" "the service did not exit 0 on stop"
uid=$(awk -F: '$1 == "reservnod" { print $3 }' "$root/etc/passwd")
expect "Uid:	$uid	$uid	$uid	$uid" "the service does not run as reservnod"
echo "== the unit ran under systemd as it should"
