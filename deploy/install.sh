#!/usr/bin/env bash
# Installs everything SocialPulse needs on a fresh Debian machine, idempotently:
# system packages (Java, Maven, Prometheus/promtool), a virtual environment with the package and its
# dev tools, and the Kafka jars from Maven Central. Safe to run again: each step skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
if ((${#need_apt[@]})); then
  echo "==> apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # policy-rc.d keeps the prometheus package from starting a system-wide server we did not ask for.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/pip install -q --disable-pip-version-check uv
fi
echo "==> installing socialpulse and its dependencies into .venv"
.venv/bin/uv pip install -q --python .venv/bin/python -e ".[dev]"

echo "==> fetching Kafka jars (cached after the first run)"
.venv/bin/python -c "from socialpulse.deploy.maven import kafka_lib; print(kafka_lib())"
