#!/usr/bin/env bash
# Shared setup for tools/run-odoo and tools/run-tests: PostgreSQL, the virtualenv and the Odoo 18.0 source tree.
# Sourced, not run. Every step is idempotent so a machine prepared once runs everything (CI included).
set -euo pipefail

ADDON_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ADDON_NAME="sales_sequence"
ODOO_SRC="${ODOO_SRC:-/opt/odoo-18.0}"
VENV="${SALES_SEQUENCE_VENV:-/opt/sales_sequence-venv}"
LINT_VENV="${SALES_SEQUENCE_LINT_VENV:-$VENV-lint}"
ODOO_ARCHIVE_URL="${ODOO_ARCHIVE_URL:-https://nightly.odoo.com/18.0/nightly/src/odoo_18.0.latest.tar.gz}"
PYTHON="${PYTHON:-python3}"
# Where the addon is linked from so Odoo sees it under its technical name whatever the clone's folder is called.
ADDONS_LINK_DIR="${ADDONS_LINK_DIR:-$VENV/addons-link}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_postgres() {
    if ! command -v pg_lsclusters >/dev/null 2>&1; then
        apt_install postgresql
    fi
    if ! pg_lsclusters -h 2>/dev/null | grep -q online; then
        log "starting PostgreSQL"
        as_root service postgresql start >/dev/null 2>&1 || as_root pg_ctlcluster "$(pg_lsclusters -h | awk 'NR==1{print $1}')" main start
    fi
    # Odoo connects as the current OS user through the local socket (peer authentication).
    local me; me="$(id -un)"
    if ! as_root su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$me'\"" | grep -q 1; then
        log "creating PostgreSQL role $me"
        as_root su postgres -c "createuser --superuser $me"
    fi
}

# The Odoo source, looked for in this order (README "Where Odoo comes from"):
#   1. ODOO_SRC when it already holds an Odoo tree;
#   2. the shared archive ODOO_ARCHIVE (default ../shared/odoo/odoo-18.0.tar.xz beside the repo), checked against
#      the sha256 of its README (or ODOO_ARCHIVE_SHA256) and unpacked into ODOO_SRC;
#   3. Odoo's official 18.0 source archive (ODOO_ARCHIVE_URL), for machines that are online;
#   4. none: the caller says in one line that the Odoo suite is skipped.
# An archive is unpacked into a temporary folder beside ODOO_SRC and moved into place only once it is complete,
# so a corrupt or interrupted unpack never leaves a half tree that later runs as if it were Odoo.
odoo_src_present() { [ -f "$ODOO_SRC/odoo-bin" ] && [ -d "$ODOO_SRC/odoo/addons/base" ]; }

ODOO_ARCHIVE="${ODOO_ARCHIVE:-$ADDON_DIR/../shared/odoo/odoo-18.0.tar.xz}"

# The sha256 the archive must have: ODOO_ARCHIVE_SHA256, else the "sha256 <hex>" line of the README beside it.
odoo_archive_sha256() {
    if [ -n "${ODOO_ARCHIVE_SHA256:-}" ]; then echo "$ODOO_ARCHIVE_SHA256"; return; fi
    local readme; readme="$(dirname "$ODOO_ARCHIVE")/README.md"
    [ -f "$readme" ] && grep -oiE '^sha256[: ]+[0-9a-f]{64}' "$readme" | grep -oiE '[0-9a-f]{64}' | head -1
}

# Unpacks archive $1 (any format tar reads) into ODOO_SRC, atomically; fails with a message and leaves ODOO_SRC
# untouched when the archive does not hold a complete Odoo tree.
install_odoo_archive() {
    local archive="$1" parent tmp top
    parent="$(dirname "$ODOO_SRC")"
    as_root mkdir -p "$parent"
    tmp="$(mktemp -d "$parent/.odoo-unpack.XXXXXX")"
    if ! tar -xf "$archive" -C "$tmp" 2>"$tmp.err"; then
        log "ERROR: $archive could not be unpacked ($(tail -1 "$tmp.err")); ODOO_SRC left as it was"
        rm -rf "$tmp" "$tmp.err"; return 1
    fi
    rm -f "$tmp.err"
    # The tree is the archive's single top folder (odoo-18.0/, odoo-18.0.post2025.../) or the archive's root.
    top="$(find "$tmp" -mindepth 1 -maxdepth 2 -name odoo-bin -type f -printf '%h\n' | head -1)"
    if [ -z "$top" ] || [ ! -d "$top/odoo/addons/base" ] || [ ! -f "$top/requirements.txt" ]; then
        log "ERROR: $archive holds no complete Odoo tree (odoo-bin, odoo/addons/base, requirements.txt); ODOO_SRC left as it was"
        rm -rf "$tmp"; return 1
    fi
    # An empty ODOO_SRC folder (a mount point, a folder made in advance) is replaced; a non-empty one is kept.
    if [ -d "$ODOO_SRC" ]; then rmdir "$ODOO_SRC" 2>/dev/null || true; fi
    if [ -e "$ODOO_SRC" ]; then
        log "ERROR: ODOO_SRC=$ODOO_SRC is not empty and holds no Odoo tree: move it away or point ODOO_SRC elsewhere"
        rm -rf "$tmp"; return 1
    fi
    mv "$top" "$ODOO_SRC" && rm -rf "$tmp"
    odoo_src_present
}

install_shared_odoo_archive() {
    [ -f "$ODOO_ARCHIVE" ] || return 1
    local want have
    want="$(odoo_archive_sha256)"
    if [ -z "$want" ]; then
        log "ERROR: no sha256 for $ODOO_ARCHIVE (its README.md has no 'sha256 <hex>' line; set ODOO_ARCHIVE_SHA256)"
        return 1
    fi
    have="$(sha256sum "$ODOO_ARCHIVE" | cut -d' ' -f1)"
    if [ "$have" != "$want" ]; then
        log "ERROR: $ODOO_ARCHIVE is corrupt or partial: sha256 $have, expected $want. Copy it again; nothing was unpacked."
        return 1
    fi
    log "unpacking Odoo 18.0 from $ODOO_ARCHIVE (sha256 checked) into $ODOO_SRC"
    install_odoo_archive "$ODOO_ARCHIVE"
}

install_official_odoo_archive() {
    [ -n "$ODOO_ARCHIVE_URL" ] || return 1
    command -v curl >/dev/null || return 1
    local tmp rc=1; tmp="$(mktemp -d)"
    log "downloading Odoo's official 18.0 source archive ($ODOO_ARCHIVE_URL)"
    if curl -fsSL --connect-timeout 20 --max-time 900 "$ODOO_ARCHIVE_URL" -o "$tmp/odoo.tar.gz" 2>/dev/null; then
        install_odoo_archive "$tmp/odoo.tar.gz" && rc=0
    else
        log "could not download $ODOO_ARCHIVE_URL (offline?)"
    fi
    rm -rf "$tmp"
    return $rc
}

ensure_odoo_src() {
    odoo_src_present || install_shared_odoo_archive || install_official_odoo_archive
}

# pip, minus the notices about local package mirrors this machine may list but not have.
pip_quiet() {
    "$VENV/bin/pip" -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# Creates virtualenv $1 when missing and installs requirements file $2 into it when it changed since last time.
ensure_venv_with() {
    local venv="$1" reqs="$2" stamp="$1/.requirements-installed"
    if [ ! -x "$venv/bin/python" ]; then
        log "creating virtualenv $venv"
        if ! "$PYTHON" -m venv "$venv" 2>/dev/null; then
            rm -rf "$venv"
            apt_install python3-venv
            "$PYTHON" -m venv "$venv"
        fi
        VENV="$venv" pip_quiet install --upgrade "pip<25" wheel "setuptools<70" "Cython<3"
    fi
    if [ ! -f "$stamp" ] || ! cmp -s "$reqs" "$stamp"; then
        log "installing $(basename "$reqs") into $venv"
        VENV="$venv" pip_quiet install -r "$reqs"
        cp "$reqs" "$stamp"
    fi
}

# Python packages: the test tools in VENV (with Odoo's requirements when Odoo is there), the linters in LINT_VENV.
ensure_venv() { ensure_venv_with "$VENV" "$ADDON_DIR/tools/requirements-test.txt"; }
ensure_lint_venv() { ensure_venv_with "$LINT_VENV" "$ADDON_DIR/tools/requirements-lint.txt"; }

ensure_odoo_python_deps() {
    local stamp="$VENV/.odoo-installed"
    [ -f "$stamp" ] && cmp -s "$ODOO_SRC/requirements.txt" "$stamp" && return 0
    apt_install gcc libpq-dev libxml2-dev libxslt1-dev libjpeg-dev zlib1g-dev
    log "installing Odoo's Python requirements into $VENV (first run takes a few minutes)"
    # python-ldap is only for auth_ldap and needs LDAP headers: leave it out. cbor2 5.4.2 has no wheel for this
    # Python and its sdist no longer builds (setuptools_scm): take the same series' last release with wheels.
    grep -v -i '^python-ldap' "$ODOO_SRC/requirements.txt" \
        | sed -E 's/^cbor2==5\.4\.2 /cbor2==5.4.6 /' > "$VENV/odoo-requirements.txt"
    pip_quiet install -r "$VENV/odoo-requirements.txt"
    cp "$ODOO_SRC/requirements.txt" "$stamp"
}

ensure_addon_link() {
    mkdir -p "$ADDONS_LINK_DIR"
    ln -sfn "$ADDON_DIR" "$ADDONS_LINK_DIR/$ADDON_NAME"
}

odoo_addons_path() { echo "$ODOO_SRC/addons,$ODOO_SRC/odoo/addons,$ADDONS_LINK_DIR"; }

odoo_bin() { "$VENV/bin/python" "$ODOO_SRC/odoo-bin" --addons-path="$(odoo_addons_path)" "$@"; }
