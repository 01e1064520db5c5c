#!/bin/sh
# test_install.sh BUILD_DIR SOURCE_DIR — `make install` as an operator gets it, checked in a
# temporary DESTDIR (nothing outside it is touched):
#   - packaging/cohortd.conf is exactly what `cohortd help-config` prints, and cohortd.1 what
#     `cohortd help-man` prints (so neither drifts from the option tables);
#   - for the configured prefix (/usr/local) and for --prefix /usr, every file lands where it
#     belongs and nothing else is installed; the unit's ExecStart is PREFIX/bin/cohortd;
#   - the installed binary runs; the installed config is the example;
#   - the installed unit passes `systemd-analyze verify` with no message at all (unknown keys
#     and bad values are only warnings there, so any output fails), and its hardening scores
#     at most MAX_EXPOSURE in `systemd-analyze security`;
#   - systemd-sysusers, given the tree, would create the user cohortd;
#   - `man -l` renders the page without a warning, with every option of `serve` in it;
#   - an existing /etc/cohortd/cohortd.conf is kept by a second install.
set -eu
build="$1"
src="$2"
MAX_EXPOSURE=2.0
tmp=$(mktemp -d /tmp/cohortd-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "test_install: FAIL: $*" >&2
    exit 1
}
step() { echo "test_install: $*"; }

bin="$build/cohortd"
[ -x "$bin" ] || fail "$bin is not built"
[ -f "$build/cohortd.1" ] || fail "$build/cohortd.1 is not built (cmake --build: target man)"

step "packaging/cohortd.conf matches cohortd help-config"
COHORTD_CONFIG= "$bin" help-config >"$tmp/conf.gen"
if ! cmp -s "$tmp/conf.gen" "$src/packaging/cohortd.conf"; then
    diff -u "$src/packaging/cohortd.conf" "$tmp/conf.gen" >&2 || true
    fail "packaging/cohortd.conf is stale; regenerate: $bin help-config > packaging/cohortd.conf"
fi
"$bin" help-man >"$tmp/man.gen"
cmp -s "$tmp/man.gen" "$build/cohortd.1" || fail "$build/cohortd.1 differs from cohortd help-man"

# `make install` runs `cmake --install` of its build with DESTDIR; the same, for two prefixes
for prefix in configured /usr; do
    dest="$tmp/dest-$(echo "$prefix" | tr / _)"
    if [ "$prefix" = configured ]; then
        prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
        DESTDIR="$dest" cmake --install "$build" >"$tmp/install.log" 2>&1 ||
            { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
    else
        DESTDIR="$dest" cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
            { cat "$tmp/install.log" >&2; fail "cmake --install --prefix $prefix failed"; }
    fi
    step "installed with prefix $prefix into $dest"
    p="${prefix#/}"
    {
        echo "etc/cohortd/cohortd.conf"
        echo "$p/bin/cohortd"
        echo "$p/lib/systemd/system/cohortd.service"
        echo "$p/lib/sysusers.d/cohortd.conf"
        echo "$p/share/man/man1/cohortd.1"
        if [ -d "$src/web" ]; then
            (cd "$src/web" && find . -type f | sed "s|^\./|$p/share/cohortd/web/|")
        fi
    } | sort >"$tmp/want.lst"
    (cd "$dest" && find . -type f | sed 's|^\./||' | sort) >"$tmp/got.lst"
    if ! cmp -s "$tmp/want.lst" "$tmp/got.lst"; then
        diff -u "$tmp/want.lst" "$tmp/got.lst" >&2 || true
        fail "installed files differ from the expected list (prefix $prefix)"
    fi
    unit="$dest/$p/lib/systemd/system/cohortd.service"
    exec_start=$(grep '^ExecStart=' "$unit")
    [ "$exec_start" = "ExecStart=$prefix/bin/cohortd serve --config /etc/cohortd/cohortd.conf" ] ||
        fail "unit has '$exec_start' for prefix $prefix"
    version=$("$dest/$p/bin/cohortd" --version)
    [ "$version" = "cohortd $("$bin" --version | cut -d' ' -f2)" ] || fail "installed binary: $version"
    cmp -s "$dest/etc/cohortd/cohortd.conf" "$src/packaging/cohortd.conf" ||
        fail "installed config is not packaging/cohortd.conf"
    [ "$(stat -c %a "$dest/etc/cohortd/cohortd.conf")" = 644 ] || fail "config mode is not 0644"

    # systemd-analyze verify checks a unit against the system's units (targets it needs),
    # that its commands exist and that its Documentation= man page opens. The tree installed
    # here is not the system, so verify in a root made of it plus the host's systemd units and
    # /usr/bin/kill (ExecReload), with man looking in the installed man directory.
    step "systemd-analyze verify (prefix $prefix)"
    root="$tmp/root"
    rm -rf "$root"
    cp -a "$dest" "$root"
    mkdir -p "$root/usr/lib/systemd" "$root/usr/bin"
    cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
    [ -e "$root/bin" ] || ln -s usr/bin "$root/bin"
    cp /usr/bin/kill "$root/usr/bin/kill"
    if ! MANPATH="$root/$p/share/man" systemd-analyze verify --root="$root" cohortd.service \
        >"$tmp/verify.log" 2>&1; then
        cat "$tmp/verify.log" >&2
        fail "systemd-analyze verify failed"
    fi
    [ -s "$tmp/verify.log" ] && { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify warned"; }
    systemd-analyze security --offline=yes --root="$root" cohortd.service >"$tmp/security.log" 2>&1 ||
        { cat "$tmp/security.log" >&2; fail "systemd-analyze security failed"; }
    exposure=$(sed -n 's/.*Overall exposure level for cohortd.service: \([0-9.]*\).*/\1/p' \
        "$tmp/security.log")
    [ -n "$exposure" ] || { cat "$tmp/security.log" >&2; fail "no exposure level"; }
    awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' ||
        fail "exposure $exposure is above $MAX_EXPOSURE"
    step "exposure level $exposure (at most $MAX_EXPOSURE)"
    systemd-sysusers --root="$root" --dry-run >"$tmp/sysusers.log" 2>&1 ||
        { cat "$tmp/sysusers.log" >&2; fail "systemd-sysusers failed"; }
    grep -q "^Creating user 'cohortd'" "$tmp/sysusers.log" ||
        { cat "$tmp/sysusers.log" >&2; fail "systemd-sysusers would not create user cohortd"; }

    step "man -l renders cohortd.1 (prefix $prefix)"
    page="$dest/$p/share/man/man1/cohortd.1"
    MANWIDTH=100 MAN_KEEP_FORMATTING= man --warnings -l "$page" >"$tmp/man.txt" 2>"$tmp/man.err" ||
        { cat "$tmp/man.err" >&2; fail "man -l failed"; }
    [ -s "$tmp/man.err" ] && { cat "$tmp/man.err" >&2; fail "man -l warned"; }
    head -1 "$tmp/man.txt" | grep -q '^COHORTD(1) .* COHORTD(1)$' || fail "no COHORTD(1) header"
    grep -q '^   cohortd serve ' "$tmp/man.txt" || fail "no serve section in the man page"
    for opt in $(COHORTD_CONFIG= "$bin" serve --help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p'); do
        grep -q -- "^       $opt\b" "$tmp/man.txt" || fail "man page lacks serve option $opt"
    done
done

step "a second install keeps an edited config"
echo "listen = 0.0.0.0:8080" >"$dest/etc/cohortd/cohortd.conf"
DESTDIR="$dest" cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "second install failed"; }
[ "$(cat "$dest/etc/cohortd/cohortd.conf")" = "listen = 0.0.0.0:8080" ] ||
    fail "the second install overwrote the config"
grep -q "Kept: $dest/etc/cohortd/cohortd.conf" "$tmp/install.log" || fail "no 'Kept' message"
step "ok"
