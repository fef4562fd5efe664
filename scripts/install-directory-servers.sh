#!/usr/bin/env bash
# Installs the real directory servers the tests drive (Samba AD DC, OpenLDAP slapd) and the client
# tools used as independent witnesses (kinit, ldapwhoami, smbclient), plus chromium for UI tests and
# tinyproxy (the corporate outbound proxy the agent tests tunnel through).
# Idempotent: does nothing when every package is already installed. Never starts a system daemon:
# the tests run their own servers on loopback, in temporary folders.
set -euo pipefail

packages=(samba-ad-dc samba-ad-provision winbind ldb-tools ldap-utils krb5-user slapd smbclient chromium tinyproxy)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg -s "$p" >/dev/null 2>&1; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-directory-servers: all packages present"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "install-directory-servers: missing ${missing[*]} and not root; install them with apt-get" >&2
  exit 1
fi

# Debian's postinst scripts start smbd/nmbd/samba-ad-dc/slapd unless policy-rc.d says no; those
# would listen on every interface and take the ports the tests need.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

echo "install-directory-servers: installing ${missing[*]}"
# Only refresh the package lists when apt cannot find a candidate for a missing package.
need_update=0
for p in "${missing[@]}"; do
  if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]'; then
    need_update=1
  fi
done
if [ "$need_update" = 1 ]; then
  apt-get update
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
