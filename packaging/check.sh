#!/bin/sh
# Checks the built package (packaging/build-deb.sh first):
#   1. dpkg-deb --contents and --info: every path, owner and mode, the conffile;
#   2. lintian, failing on any error or warning (overrides in packaging/lintian-overrides,
#      each with its reason);
#   3. the unit with systemd-analyze verify and its exposure with systemd-analyze security;
#   4. an install into a throwaway Debian root made by debootstrap (minbase): the system
#      user, /var/lib/reservnod owned by it 0700, the unit in place and enabled, a service
#      that is not set up refuses with its journal line, `remove` keeps config and data,
#      `purge` removes them. The root is deleted at the end.
# Needs root, debootstrap, lintian and Debian's package mirror. Set SKIP_ROOT=1 to skip 4.
set -eu
cd "$(dirname "$0")/.."
deb=$(ls -t target/debian/reservnod_*.deb | head -n 1)
echo "== $deb ($(du -k "$deb" | cut -f1) KiB)"
fail() { echo "FAILED: $*" >&2; exit 1; }

echo "== contents"
contents=$(dpkg-deb --contents "$deb")
echo "$contents"
for want in \
    "-rwxr-xr-x (root/root|0/0) .* ./usr/bin/reservnod" \
    "-rw-r--r-- (root/root|0/0) .* ./etc/reservnod/node.toml" \
    "-rw-r--r-- (root/root|0/0) .* ./(usr/)?lib/systemd/system/reservnod.service" \
    "./usr/share/doc/reservnod/OPERATIONS.md" \
    "./usr/share/doc/reservnod/copyright"; do
    echo "$contents" | grep -Eq -- "$want" || fail "no $want in the package"
done
if echo "$contents" | grep -q "var/lib/reservnod"; then
    fail "the data directory must be made by postinst, not shipped"
fi
dpkg-deb --info "$deb"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/reservnod/node.toml \
    || fail "node.toml is not a conffile"

echo "== lintian"
lintian --fail-on error,warning --info "$deb"

echo "== systemd-analyze"
unit=packaging/reservnod.service
systemd-analyze verify --man=no "$unit" 2>&1 | grep -v "reservnod: command not found\|is not executable\|No such file" || true
systemd-analyze security --offline=yes --no-pager "$unit" | tail -n 3

if [ "${SKIP_ROOT:-0}" = 1 ]; then
    echo "== install into a throwaway root: skipped (SKIP_ROOT=1)"
    exit 0
fi
echo "== install into a throwaway root (debootstrap minbase)"
root=$(mktemp -d /var/tmp/reservnod-root.XXXXXX)
chmod 755 "$root"   # it becomes /: the service user must traverse it
cleanup() {
    for m in proc dev/pts dev; do umount "$root/$m" 2>/dev/null || true; done
    rm -rf "$root"
}
trap cleanup EXIT
debootstrap --variant=minbase bookworm "$root" >"$root.log" 2>&1 || { tail -n 20 "$root.log"; fail debootstrap; }
rm -f "$root.log"
mount -t proc proc "$root/proc"
cp "$deb" "$root/tmp/reservnod.deb"
chmod 644 "$root/tmp/reservnod.deb"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/reservnod.deb' >/dev/null \
    || fail "apt-get install of the package"
in_root sh -e -c '
    fail() { echo "FAILED: $*" >&2; exit 1; }
    entry=$(getent passwd reservnod) || fail "no user reservnod"
    uid=$(echo "$entry" | cut -d: -f3)
    [ "$uid" -lt 1000 ] || fail "reservnod is not a system user (uid $uid)"
    case "$entry" in *nologin*|*/bin/false*) ;; *) fail "reservnod can log in: $entry";; esac
    [ "$(stat -c "%U:%G %a" /var/lib/reservnod)" = "reservnod:reservnod 700" ] \
        || fail "/var/lib/reservnod is $(stat -c "%U:%G %a" /var/lib/reservnod)"
    unit=$(ls /lib/systemd/system/reservnod.service /usr/lib/systemd/system/reservnod.service 2>/dev/null | head -n 1)
    [ -n "$unit" ] || fail "no unit file"
    [ -e /etc/systemd/system/multi-user.target.wants/reservnod.service ] || fail "the unit is not enabled"
    grep -q "^User=reservnod" "$unit" || fail "the unit does not run as reservnod"
    grep -q "^ProtectSystem=strict" "$unit" || fail "ProtectSystem"
    /usr/bin/reservnod --version
    # The ExecCondition of the unit, as the service user: refuses with its line, then passes.
    cond=$(sed -n "s/^ExecCondition=\/bin\/sh -c //p" "$unit" | sed "s/^.\(.*\).$/\1/")
    if out=$(setpriv --reuid=reservnod --regid=reservnod --clear-groups sh -c "$cond" 2>&1); then
        fail "a node that is not set up passes the start condition"
    fi
    echo "$out" | grep -q "node init" || fail "the refusal does not say what to do: $out"
    echo "start refused as it should: $out"
    # node init as the service user, with keys from a throwaway admin directory.
    cd /tmp
    reservnod admin --admin-dir /tmp/admin init --region Test >/dev/null
    reservnod admin --admin-dir /tmp/admin unit add --id SE2321000081-AVD12 --name "Avd 12" --kind ward --municipality 1080 >/dev/null
    install -o reservnod -m 0600 /tmp/admin/units/SE2321000081-AVD12.key /tmp/unit.key
    cp /tmp/admin/roster.rsv /tmp/roster.rsv && chmod 644 /tmp/roster.rsv
    setpriv --reuid=reservnod --regid=reservnod --clear-groups reservnod node init --data-dir /var/lib/reservnod --unit-key /tmp/unit.key --roster /tmp/roster.rsv >/dev/null
    setpriv --reuid=reservnod --regid=reservnod --clear-groups sh -c "$cond" || fail "a set-up node fails the start condition"
    [ "$(stat -c "%U %a" /var/lib/reservnod/node.key)" = "reservnod 600" ] || fail "node.key"
    # doctor on the packaged config: the node is not admitted yet, so it fails the roster.
    if reservnod doctor >/tmp/doctor.txt; then fail "doctor passes a node that is not admitted"; fi
    grep -q "^FEL     roster" /tmp/doctor.txt || { cat /tmp/doctor.txt; fail "doctor roster line"; }
    grep -q "^ok      datakatalog" /tmp/doctor.txt || { cat /tmp/doctor.txt; fail "doctor datakatalog line"; }
    echo "user, directory, unit, start condition and doctor as expected"
'
in_root dpkg -r reservnod >/dev/null || fail "dpkg -r"
[ -f "$root/etc/reservnod/node.toml" ] || fail "remove deleted the config"
[ -f "$root/var/lib/reservnod/node.key" ] || fail "remove deleted the data"
in_root dpkg -P reservnod >/dev/null || fail "dpkg -P"
[ ! -e "$root/etc/reservnod" ] || fail "purge left /etc/reservnod"
[ ! -e "$root/var/lib/reservnod" ] || fail "purge left /var/lib/reservnod"
echo "remove kept config and data; purge removed them"
echo "== all package checks passed"
