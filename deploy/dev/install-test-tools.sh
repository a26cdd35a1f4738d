#!/usr/bin/env bash
# Install the Debian packages the test suite drives for real, if they are missing:
# promtool (prometheus), amtool (prometheus-alertmanager), headless Chromium (chromium), kcat
# (a librdkafka publisher, for the default-partitioner tests), and Java 17 + Maven for the
# Kafka broker. Needs root (or sudo) and apt; does nothing when all
# tools are present. Only installs; nothing here starts a service.
set -euo pipefail

declare -A package_for=(
  [promtool]=prometheus
  [amtool]=prometheus-alertmanager
  [chromium]=chromium
  [kcat]=kcat
  [java]=openjdk-17-jre-headless
  [mvn]=maven
)

missing=()
for tool in "${!package_for[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_for[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: missing ${missing[*]} and no apt-get here; install them by hand" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-test-tools: missing ${missing[*]}; run as root or install them" >&2
    exit 1
  }
  as_root=(sudo)
fi
echo "install-test-tools: installing ${missing[*]}" >&2
# Another apt or dpkg process (unattended upgrades, a parallel install) may hold the lock: wait
# for it, up to ten minutes, rather than fail.
wait_for_lock=(-o DPkg::Lock::Timeout=600)
"${as_root[@]}" apt-get "${wait_for_lock[@]}" update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get "${wait_for_lock[@]}" install -y -qq \
  --no-install-recommends \
  "${missing[@]}" >/dev/null
# Debian's prometheus packages start their daemons on install; the tests need only the CLIs.
for service in prometheus prometheus-alertmanager; do
  if command -v systemctl >/dev/null 2>&1; then "${as_root[@]}" systemctl stop "$service" 2>/dev/null || true; fi
  pkill -x "$service" 2>/dev/null || true
done
