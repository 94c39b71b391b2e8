#!/bin/sh
# Builds the Debian package: target/debian/reservnod_<version>-1_<arch>.deb.
# cargo-deb is pinned (installed with --locked if missing or another version); the metadata
# is [package.metadata.deb] in Cargo.toml, the unit, conffile and maintainer scripts are in
# packaging/. Checks: packaging/check.sh.
set -eu
CARGO_DEB_VERSION=3.8.0
cd "$(dirname "$0")/.."
if [ "$(cargo deb --version 2>/dev/null || true)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    cargo install cargo-deb --locked --version "=$CARGO_DEB_VERSION"
fi
# The manual page, compressed as Debian wants it.
mkdir -p target/debian-extra
gzip -9n -c packaging/reservnod.1 > target/debian-extra/reservnod.1.gz
# Stripped: the release profile keeps line tables for benchmarks; the package needs none.
cargo deb --locked -p reservnod --strip "$@"
