# Shared by the scripts: logging and installing what they need on Debian / Raspberry Pi OS.
# Sourced, not run.

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs Debian packages that are missing (as root, or through sudo).
need_apt() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    step "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Makes sure cargo and the rustup components the checks use are present.
need_rust() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
    for comp in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
            step "adding rustup component $comp"
            rustup component add "$comp"
        fi
    done
}

# The toolchain of static musl builds without Docker (cross/README.md): zig (from PyPI's
# ziglang package, which ships the zig compiler with musl's headers and libc for every target)
# and cargo-zigbuild, which makes cargo link through it. Pinned versions; installed with pip if
# missing or different, and rustup's standard library for each target in "$@".
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.0
need_zigbuild() {
    local have_zig have_zb
    # `pip show` fails for a package that is not installed: under pipefail that must not end
    # the script (a fresh machine has neither).
    have_zig=$(python3 -m pip show ziglang 2>/dev/null | sed -n 's/^Version: //p' || true)
    have_zb=$(python3 -m pip show cargo-zigbuild 2>/dev/null | sed -n 's/^Version: //p' || true)
    if [ "$have_zig" != "$ZIGLANG_VERSION" ] || [ "$have_zb" != "$CARGO_ZIGBUILD_VERSION" ]; then
        step "installing zig $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION from PyPI (pip, prebuilt: seconds)"
        python3 -m pip install --quiet --disable-pip-version-check \
            "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
    fi
    if ! command -v cargo-zigbuild >/dev/null 2>&1; then
        command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
        PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
        export PATH
    fi
    command -v cargo-zigbuild >/dev/null 2>&1 || die "cargo-zigbuild installed but not on PATH"
    local installed
    installed=$(rustup target list --installed)
    for target in "$@"; do
        if ! grep -qx "$target" <<<"$installed"; then
            step "adding the Rust standard library for $target (rustup target add)"
            rustup target add "$target"
        fi
    done
}

# 32-bit Raspberry Pi targets have no prebuilt standard library from rustup: scripts/dist builds
# std from source for them (-Zbuild-std), which needs a nightly cargo and the std sources. A
# pinned nightly, never plain `nightly`: the same compiler on every machine until someone moves
# the date (cross/README.md says why a nightly and not RUSTC_BOOTSTRAP). About 80 MB, once.
NIGHTLY_TOOLCHAIN=nightly-2026-05-20
need_nightly() {
    if ! rustup run "$NIGHTLY_TOOLCHAIN" rustc --version >/dev/null 2>&1 \
        || ! rustup component list --installed --toolchain "$NIGHTLY_TOOLCHAIN" 2>/dev/null | grep -q '^rust-src'; then
        step "installing the Rust toolchain $NIGHTLY_TOOLCHAIN with rust-src (for std built from source)"
        rustup toolchain install "$NIGHTLY_TOOLCHAIN" --profile minimal --component rust-src
    fi
    # rustc still tells the linker to search the target's rust-std directory, which does not
    # exist: an empty one spares a linker warning ("unable to open library directory") per build.
    local sysroot
    sysroot=$(rustup run "$NIGHTLY_TOOLCHAIN" rustc --print sysroot)
    for target in "$@"; do mkdir -p "$sysroot/lib/rustlib/$target/lib"; done
}

# The size budget of a shipped binary (UI and TLS included): 4 MiB. scripts/dist and
# scripts/check-deb fail above it.
MAX_BYTES=${LANTERM_DIST_MAX_BYTES:-4194304}

# cargo-deb (crates.io), which makes the Debian packages; compiled once by cargo install
# (a few minutes), pinned.
CARGO_DEB_VERSION=3.8.0
need_cargo_deb() {
    if [ "$(cargo deb --version 2>/dev/null | awk '{print $2}')" != "$CARGO_DEB_VERSION" ]; then
        step "installing cargo-deb $CARGO_DEB_VERSION (cargo install from crates.io: compiles for a few minutes, once)"
        nice -n 10 cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
    fi
}

# `systemd-analyze verify` of a unit file, failing on any complaint: it exits 0 on unknown keys
# and bad values (it only prints "ignoring"), so its output must be empty too.
verify_unit() {
    local out
    out=$(systemd-analyze verify "$1" 2>&1) || die "systemd-analyze verify $1: $out"
    [ -z "$out" ] || die "systemd-analyze verify $1 complains: $out"
    echo "  systemd-analyze verify $1: no complaint"
}
