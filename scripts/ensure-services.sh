#!/usr/bin/env bash
# Make sure the local servers the tests talk to are available:
#  - PostgreSQL on 127.0.0.1:5432 (started only when it does not answer; fails loudly otherwise)
#  - the Dovecot binary (installed with apt-get when missing; tests start their own private instance)
#  - the nginx binary (the same: installed from Debian's packages; tests start their own instance, as this
#    user, with its own prefix, config, pid file, logs and port; a system nginx is never touched)
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! pg_up; then
  echo "PostgreSQL does not answer on 127.0.0.1:5432; starting it" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "ERROR: PostgreSQL could not be started on 127.0.0.1:5432" >&2; exit 1; }
fi

if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  echo "Dovecot is missing; installing it with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 dovecot-imapd >/dev/null
  # The package may start a system instance; the tests run their own private ones. Stop only the system
  # one (its own pid file), never every process named dovecot: another test run's private server may be one.
  (service dovecot stop || { [ -f /run/dovecot/master.pid ] && kill "$(cat /run/dovecot/master.pid)"; } || true) \
    >/dev/null 2>&1
  [ -x /usr/sbin/dovecot ] || { echo "ERROR: Dovecot could not be installed" >&2; exit 1; }
fi

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "nginx is missing; installing it with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 nginx >/dev/null
  [ -x /usr/sbin/nginx ] || { echo "ERROR: nginx could not be installed" >&2; exit 1; }
fi
