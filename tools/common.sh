#!/usr/bin/env bash
# Shared setup for tools/run-odoo and tools/run-tests: PostgreSQL, the virtualenv and the Odoo 18.0 source tree.
# Sourced, not run. Every step is idempotent so a machine prepared once runs everything (CI included).
set -euo pipefail

ADDON_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ADDON_NAME="sales_sequence"
ODOO_SRC="${ODOO_SRC:-/opt/odoo-18.0}"
VENV="${SALES_SEQUENCE_VENV:-/opt/sales_sequence-venv}"
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

# The Odoo source: ODOO_SRC when it holds odoo-bin, else Odoo's official 18.0 source archive (needs the network).
odoo_src_present() { [ -f "$ODOO_SRC/odoo-bin" ] && [ -d "$ODOO_SRC/odoo/addons/base" ]; }

ensure_odoo_src() {
    odoo_src_present && return 0
    log "no Odoo 18.0 in ODOO_SRC=$ODOO_SRC; downloading Odoo's official source archive"
    local tmp; tmp="$(mktemp -d)"
    if curl -fsSL --max-time 900 "$ODOO_ARCHIVE_URL" -o "$tmp/odoo.tar.gz"; then
        mkdir -p "$ODOO_SRC"
        tar -xzf "$tmp/odoo.tar.gz" -C "$ODOO_SRC" --strip-components=1
        rm -rf "$tmp"
        odoo_src_present
    else
        rm -rf "$tmp"
        return 1
    fi
}

# pip, minus the notices about local package mirrors this machine may list but not have.
pip_quiet() {
    "$VENV/bin/pip" -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# Python packages: the test tools always, Odoo's requirements when Odoo is there.
ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtualenv $VENV"
        if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            apt_install python3-venv
            "$PYTHON" -m venv "$VENV"
        fi
        pip_quiet install --upgrade "pip<25" wheel "setuptools<70" "Cython<3"
    fi
    local stamp="$VENV/.tools-installed" reqs="$ADDON_DIR/tools/requirements-test.txt"
    if [ ! -f "$stamp" ] || ! cmp -s "$reqs" "$stamp"; then
        log "installing test tools into $VENV"
        pip_quiet install -r "$reqs"
        cp "$reqs" "$stamp"
    fi
}

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
