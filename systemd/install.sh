#!/usr/bin/env bash
# Install LayerGate as a systemd service. Idempotent: running it again updates the program files
# and the unit, and never overwrites /etc/layergate/layergate.yaml or layergate.env.
#
#   sudo systemd/install.sh [--prefix DIR] [--start] [--root DIR]
#
#   --prefix DIR  where the program goes (default /opt/layergate)
#   --start       also enable and start the service (default: install only, start nothing)
#   --root DIR    stage everything below DIR (packaging, tests): no user, no systemctl
#
# Run it from a built checkout (`npm install` builds dist/). What it does:
#   1. system user and group `layergate` (no login, home /var/lib/layergate)
#   2. program files -> PREFIX (dist/, proto/, node_modules/, package.json, README.md, config/)
#   3. /etc/layergate/ (root:layergate 1770) with layergate.yaml (layergate 0640) from
#      config/layergate.example.yaml and layergate.env (root 0600, for secrets such as
#      AWS_SECRET_ACCESS_KEY), if not present
#   4. the unit -> /etc/systemd/system/layergate.service (ExecStart pointed at this node and PREFIX)
#   5. systemctl daemon-reload
set -euo pipefail

PREFIX=/opt/layergate
START=0
ROOT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --start) START=1; shift ;;
    --root) ROOT="$(realpath -m "$2")"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$(command -v node || true)"
say() { echo "install.sh: $*"; }

[[ -n "$NODE" ]] || { echo "install.sh: node (>= 20.19) is not on PATH" >&2; exit 1; }
[[ -f "$SRC/dist/gateway/cli/main.js" ]] || { echo "install.sh: $SRC/dist is missing: run 'npm install' (it builds) first" >&2; exit 1; }
if [[ -z "$ROOT" && "$(id -u)" -ne 0 ]]; then echo "install.sh: run as root (or use --root DIR to stage)" >&2; exit 1; fi
if [[ $START -eq 1 && -n "$ROOT" ]]; then echo "install.sh: --start cannot be used with --root" >&2; exit 2; fi

# 1. user
if [[ -z "$ROOT" ]]; then
  if ! getent group layergate >/dev/null; then groupadd --system layergate; say "created group layergate"; fi
  if ! id -u layergate >/dev/null 2>&1; then
    useradd --system --gid layergate --home-dir /var/lib/layergate --no-create-home \
      --shell "$(command -v nologin || echo /usr/sbin/nologin)" --comment "LayerGate edge gateway" layergate
    say "created user layergate"
  fi
fi

# 2. program files (replaced as a whole so removed files do not linger)
DEST="$ROOT$PREFIX"
install -d -m 0755 "$DEST"
for item in dist proto node_modules config; do
  if [[ -e "$SRC/$item" ]]; then
    rm -rf "${DEST:?}/$item.new"
    cp -a "$SRC/$item" "$DEST/$item.new"
    rm -rf "${DEST:?}/$item"
    mv "$DEST/$item.new" "$DEST/$item"
  fi
done
for f in package.json package-lock.json README.md LICENSE; do
  [[ -f "$SRC/$f" ]] && install -m 0644 "$SRC/$f" "$DEST/$f"
done
say "program files in $DEST"

# 3. configuration (never overwritten)
# The gateway may replace layergate.yaml: a config applied over the API is written back to it (a temp
# file in this folder renamed over the file, gateway/config/config-file.ts), so a restart runs what was
# applied. So the folder is writable for the group layergate, with the sticky bit: in it a user may
# replace only files it owns. layergate.yaml is the gateway's (layergate 0640); layergate.env stays
# root 0600, read by systemd as root (EnvironmentFile=), and the gateway can neither read nor replace
# it. The unit's ConfigurationDirectoryMode=1770 matches, so a start does not undo this. An existing
# folder's mode and group are set again on every run (an install from before this needed it); an
# existing layergate.yaml is left as it is (chown it to layergate for the API's apply to persist).
ETC="$ROOT/etc/layergate"
install -d -m 1770 "$ETC"
chmod 1770 "$ETC"
[[ -z "$ROOT" ]] && chown root:layergate "$ETC"
if [[ ! -f "$ETC/layergate.yaml" ]]; then
  install -m 0640 "$SRC/config/layergate.example.yaml" "$ETC/layergate.yaml"
  [[ -z "$ROOT" ]] && chown layergate:layergate "$ETC/layergate.yaml"
  say "wrote $ETC/layergate.yaml (edit it, then: layergate check-config $ETC/layergate.yaml)"
else
  say "kept existing $ETC/layergate.yaml"
fi
if [[ ! -f "$ETC/layergate.env" ]]; then
  umask 077
  cat > "$ETC/layergate.env" <<'ENV'
# Secrets for LayerGate, read by systemd (EnvironmentFile) and referenced from layergate.yaml as ${NAME}.
# Standard AWS variables are picked up by the S3 outputs when their config gives no credentials:
#AWS_ACCESS_KEY_ID=
#AWS_SECRET_ACCESS_KEY=
#AWS_REGION=
ENV
  chmod 0600 "$ETC/layergate.env"
  say "wrote $ETC/layergate.env (mode 0600)"
fi

# 4. unit
UNIT_DIR="$ROOT/etc/systemd/system"
install -d -m 0755 "$UNIT_DIR"
TMP_UNIT="$(mktemp)"
sed -e "s|/usr/bin/node|$NODE|g" -e "s|/opt/layergate|$PREFIX|g" "$SRC/systemd/layergate.service" > "$TMP_UNIT"
if ! cmp -s "$TMP_UNIT" "$UNIT_DIR/layergate.service" 2>/dev/null; then
  install -m 0644 "$TMP_UNIT" "$UNIT_DIR/layergate.service"
  say "installed $UNIT_DIR/layergate.service"
else
  say "unit unchanged"
fi
rm -f "$TMP_UNIT"

# 5. systemd
if [[ -z "$ROOT" && -d /run/systemd/system ]]; then
  systemctl daemon-reload
  if [[ $START -eq 1 ]]; then
    systemctl enable --now layergate.service
    say "started: journalctl -u layergate -f"
  else
    say "not started: systemctl enable --now layergate"
  fi
elif [[ -z "$ROOT" ]]; then
  say "systemd is not running here: unit installed, not loaded"
fi
