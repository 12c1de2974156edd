#!/usr/bin/env bash
# Make the secret files docker-compose.yml mounts, with random values:
#
#   deploy/make-secrets.sh [DIR]      (DIR defaults to deploy/secrets)
#
#   s3_access_key  MinIO's root user, and the S3 sink's access key id
#   s3_secret_key  MinIO's root password, and the S3 sink's secret key
#   dd_api_key     the Datadog API key: $DD_API_KEY when set, else a random
#                  placeholder that Datadog refuses (403) until replaced
#
# A file that exists is kept, so running it again never rotates a key under
# a running stack; delete a file to make it anew. The directory is 0700. The
# files are 0644 because Compose bind-mounts a file secret with its host
# owner and mode, and the containers run as another user (65532, distroless
# nonroot; 1000 for Kafka), which must be able to read them.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-$here/secrets}

# random N: N characters of [A-Za-z0-9] from the kernel's CSPRNG.
random() {
  local out=""
  while ((${#out} < $1)); do
    out+=$(head -c 256 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
  done
  printf '%s' "${out:0:$1}"
}

# put NAME VALUE: write a secret file unless it exists.
put() {
  local f=$dir/$1
  if [[ -s $f ]]; then
    echo "kept    $f"
    return
  fi
  (umask 022 && printf '%s\n' "$2" >"$f.tmp" && mv "$f.tmp" "$f")
  echo "created $f"
}

mkdir -p "$dir"
chmod 700 "$dir"
put s3_access_key "auditstream-$(random 8)"
put s3_secret_key "$(random 40)"
if [[ -n ${DD_API_KEY:-} ]]; then
  put dd_api_key "$DD_API_KEY"
else
  if [[ ! -s $dir/dd_api_key ]]; then
    echo "note: a placeholder Datadog key; set DD_API_KEY and delete $dir/dd_api_key to deliver for real" >&2
  fi
  # A Datadog API key is 32 hex characters; this one only has the shape.
  put dd_api_key "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
fi
