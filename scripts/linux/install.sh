#!/bin/sh
# Installs maorders the way the shipped systemd units and cron file run it. Idempotent: run it
# again to upgrade; the settings file and the journal are never overwritten.
#
#   sudo sh scripts/linux/install.sh                 # systemd timers if systemd runs, else cron
#   sudo SCHEDULER=cron sh scripts/linux/install.sh  # or systemd, or none
#
# It makes: the system user `maorders`; a virtual environment /opt/maorders/venv with this
# checkout installed in it; /usr/local/bin/maorders (a link to it); /etc/maorders/maorders.env
# from maorders.env.example (0600, owner maorders) unless one exists; /var/lib/maorders and
# /var/log/maorders (0700, owner maorders); the units in /etc/systemd/system (enable the timers
# of the passes you use: systemctl enable --now maorders-pull-orders.timer) or /etc/cron.d/maorders;
# with systemd also the staff desk's user unit in /etc/systemd/user (maorders-desk.service).
#
# ROOT (default empty) puts every path under a prefix, for packaging and tests; then the user is
# only checked, not made (MAORDERS_USER names another one). PYTHON picks the interpreter (3.11+).
set -eu

ROOT="${ROOT:-}"
MAORDERS_USER="${MAORDERS_USER:-maorders}"
PYTHON="${PYTHON:-python3}"
SCHEDULER="${SCHEDULER:-auto}"
SOURCE="$(cd "$(dirname "$0")/../.." && pwd)"

VENV="$ROOT/opt/maorders/venv"
BIN="$ROOT/usr/local/bin"
ETC="$ROOT/etc/maorders"
STATE="$ROOT/var/lib/maorders"
LOGS="$ROOT/var/log/maorders"

say() { printf 'maorders install: %s\n' "$*" >&2; }

# -- the user ----------------------------------------------------------------------------------------
if ! id "$MAORDERS_USER" >/dev/null 2>&1; then
    if [ -n "$ROOT" ]; then
        say "no user $MAORDERS_USER (under ROOT users are not made; set MAORDERS_USER)"; exit 67
    fi
    NOLOGIN="$(command -v nologin || echo /usr/sbin/nologin)"
    useradd --system --home-dir /var/lib/maorders --no-create-home --shell "$NOLOGIN" \
        --comment "maorders back-office sync" "$MAORDERS_USER"
    say "made the system user $MAORDERS_USER"
fi
GROUP="$(id -gn "$MAORDERS_USER")"

# -- the program -----------------------------------------------------------------------------------
umask 022  # the program is readable by all; the data below is the user's alone
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    say "made the virtual environment $VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$SOURCE"
mkdir -p "$BIN"
ln -sfn "$VENV/bin/maorders" "$BIN/maorders"
say "installed $("$VENV/bin/maorders" --version) as $BIN/maorders"

# -- settings and data: the user's alone --------------------------------------------------------------
install -d -m 0755 "$ETC"
if [ ! -e "$ETC/maorders.env" ]; then
    install -m 0600 -o "$MAORDERS_USER" -g "$GROUP" "$SOURCE/maorders.env.example" "$ETC/maorders.env"
    say "wrote $ETC/maorders.env from the example: fill in the connectors you use"
else
    chmod 0600 "$ETC/maorders.env"
    chown "$MAORDERS_USER:$GROUP" "$ETC/maorders.env"
fi
install -d -m 0700 -o "$MAORDERS_USER" -g "$GROUP" "$STATE" "$LOGS"

# -- the scheduler -----------------------------------------------------------------------------------
if [ "$SCHEDULER" = auto ]; then
    if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then SCHEDULER=systemd; else SCHEDULER=cron; fi
fi
case "$SCHEDULER" in
    systemd)
        install -d -m 0755 "$ROOT/etc/systemd/system"
        install -m 0644 "$SOURCE"/scripts/linux/systemd/maorders-* "$ROOT/etc/systemd/system/"
        # the staff desk: a user unit, enabled by the one account it runs as (docs/operations.md)
        install -d -m 0755 "$ROOT/etc/systemd/user"
        install -m 0644 "$SOURCE"/scripts/linux/systemd-user/maorders-* "$ROOT/etc/systemd/user/"
        if [ -z "$ROOT" ]; then systemctl daemon-reload; fi
        say "units in $ROOT/etc/systemd/system: systemctl enable --now maorders-<pass>.timer for each pass you use"
        ;;
    cron)
        install -d -m 0755 "$ROOT/etc/cron.d"
        install -m 0644 "$SOURCE/scripts/linux/maorders.cron" "$ROOT/etc/cron.d/maorders"
        say "cron file $ROOT/etc/cron.d/maorders: delete the lines of the passes you do not use"
        ;;
    none) ;;
    *) say "SCHEDULER must be systemd, cron, none or auto, not $SCHEDULER"; exit 64 ;;
esac
say "next: edit $ETC/maorders.env, then: sudo -u $MAORDERS_USER maorders --env-file /etc/maorders/maorders.env doctor"
