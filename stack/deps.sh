#!/usr/bin/env bash
# Install what the tests and the demo need from Debian's packages, when it is
# missing: kcat (the client we did not write), Java 17 and Maven (Apache
# Kafka runs from its Maven Central jars), curl. Go itself must be present.
set -euo pipefail

need=()
command -v kcat >/dev/null 2>&1 || need+=(kcat)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
command -v ss >/dev/null 2>&1 || need+=(iproute2)

if ((${#need[@]} == 0)); then
  echo "deps: kcat, java, mvn and curl are present"
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
  exit 4
fi
echo "deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
