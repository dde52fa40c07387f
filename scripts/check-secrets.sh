#!/usr/bin/env bash
# Fails if any secret the test suite handed to ferry (S3 secret keys, session and API tokens:
# recorded by the suite in DIR/secrets.txt) appears in any output the suite kept in DIR
# (every `ferry` run's stdout and stderr, every ferryd log, every control-API answer, and the
# console output of `cargo test` and the interop suite). The one sanctioned exception,
# `ferry alias export` to a pipe, is not kept.
#
# Test secrets must be distinctive strings (a secret that is an English word, such as
# "credentials", is found in ordinary messages and test names).
#
#   FERRY_TEST_OUTPUT_DIR=DIR cargo test ...; bash scripts/check-secrets.sh DIR
set -euo pipefail
dir=${1:?usage: check-secrets.sh DIR}
[ -s "$dir/secrets.txt" ] || { echo "check-secrets: no secrets recorded in $dir: the check would mean nothing" >&2; exit 1; }
files=$(find "$dir" -type f ! -name secrets.txt | wc -l)
[ "$files" -gt 100 ] || { echo "check-secrets: only $files outputs kept in $dir" >&2; exit 1; }
secrets=$(sort -u "$dir/secrets.txt" | awk 'length($0) >= 8')
n=0
leaks=0
while IFS= read -r secret; do
  n=$((n + 1))
  if hits=$(grep -rlF --exclude=secrets.txt -- "$secret" "$dir"); then
    echo "check-secrets: a secret (${#secret} chars, starts ${secret:0:3}...) appears in:" >&2
    echo "$hits" | sed 's/^/  /' >&2
    leaks=$((leaks + 1))
  fi
done <<<"$secrets"
bytes=$(du -sb "$dir" | cut -f1)
if [ "$leaks" -gt 0 ]; then
  echo "check-secrets: $leaks of $n secrets leaked" >&2
  exit 1
fi
echo "check-secrets: ok: $n secrets, none in $files kept outputs ($bytes bytes)"
