#!/usr/bin/env bash
# The worked example of docs/eventual-consistency.md, with the real AWS CLI
# against a real node started with a simulated propagation delay of 2s:
# an application user is granted Encrypt and Decrypt and calls Encrypt at
# once. Without its grant token the call is refused with
# AccessDeniedException for about 2s, then works; with the token it works
# at once. A revoked grant keeps working for about 2s. Exits non-zero on
# the first surprise; stops only the node it started, by PID. The delay
# is 8s here (TRENT_EC_DELAY), so that the AWS CLI's start-up time fits in
# it.
#
#   TRENT_QUICKSTART_PORT=17613 scripts/eventual-consistency-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
port=${TRENT_QUICKSTART_PORT:-17700}
# 8s leaves room for the AWS CLI's own start-up (a second or more a call,
# far more on a loaded machine).
delay=${TRENT_EC_DELAY:-8}
tmp=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then kill "$node_pid"; wait "$node_pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "eventual-consistency: $*" >&2; [ -f "$tmp/node.log" ] && tail -20 "$tmp/node.log" >&2; exit 1; }
command -v aws >/dev/null || fail "the AWS CLI (aws) is required"

go build -tags hashicorpmetrics -o "$tmp/trent" ./cmd/trent
data="$tmp/trent-data"
export TRENT_ENDPOINT="127.0.0.1:$port"
trent() { "$tmp/trent" --data-dir "$data" "$@"; }

# The delay is capped by the staleness bound: raise both.
"$tmp/trent" server --data-dir "$data" --api-addr "127.0.0.1:$port" --raft-addr "127.0.0.1:$((port + 1))" \
  --gossip-addr "127.0.0.1:$((port + 2))" --max-staleness $((2 * delay + 2))s --simulated-propagation ${delay}s >"$tmp/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 300); do
  grep -q "is serving on" "$tmp/node.log" && break
  kill -0 "$node_pid" 2>/dev/null || fail "node exited during start"
  sleep 0.1
done
grep -q "simulated propagation delay in force" "$tmp/node.log" || fail "no start line for the simulated propagation"

export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER="" AWS_MAX_ATTEMPTS=1
export AWS_DEFAULT_REGION=us-east-1 AWS_CA_BUNDLE="$data/admin/ca.pem"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KMS
endpoint="https://127.0.0.1:$port"
keys() {
  trent iam create-access-key "$@" --output json |
    python3 -c 'import json,sys; a=json.load(sys.stdin)["AccessKey"]; print(a["AccessKeyId"], a["SecretAccessKey"])'
}
read -r root_id root_secret < <(keys)
trent iam create-user --user-name app >/dev/null
read -r app_id app_secret < <(keys --user-name app)
as_root() { AWS_ACCESS_KEY_ID=$root_id AWS_SECRET_ACCESS_KEY=$root_secret aws --endpoint-url "$endpoint" "$@"; }
as_app() { AWS_ACCESS_KEY_ID=$app_id AWS_SECRET_ACCESS_KEY=$app_secret aws --endpoint-url "$endpoint" "$@"; }

# (Not describe-key: a bounded read, it would not see the new key for the
# delay either.)
read -r key account < <(as_root kms create-key --query 'KeyMetadata.[KeyId,AWSAccountId]' --output text)
sleep $((delay + 1)) # the new key and user propagate too

# encrypt_until_ok calls Encrypt as app until it works; prints the seconds
# it took and counts the AccessDeniedExceptions it got.
encrypt_as_app() { as_app kms encrypt --key-id "$key" --plaintext aGVsbG8= --query KeyId --output text "$@" >/dev/null 2>"$tmp/err"; }
start=$(date +%s.%N)
token=$(as_root kms create-grant --key-id "$key" --grantee-principal "arn:aws:iam::$account:user/app" \
  --operations Encrypt Decrypt --query GrantToken --output text)
encrypt_as_app && fail "without its grant token, the new grant worked $(echo "$(date +%s.%N) - $start" | bc)s after it was made: the mode did nothing"
encrypt_as_app --grant-tokens "$token" || fail "with its grant token, the new grant did not work at once: $(cat "$tmp/err")"
echo "with the grant token: allowed at once"
denied=1
until encrypt_as_app; do
  grep -q AccessDeniedException "$tmp/err" || fail "unexpected error: $(cat "$tmp/err")"
  denied=$((denied + 1))
  sleep 0.2
done
took=$(echo "$(date +%s.%N) - $start" | bc)
echo "without the grant token: AccessDeniedException $denied times, allowed after ${took}s"
# Past the delay, and within the node's bound (2 delay + 2s) plus one slow
# AWS CLI call.
awk -v t="$took" -v d="$delay" 'BEGIN { exit !(t >= d && t < 2 * d + 2 + 30) }' || fail "allowed after ${took}s, want about ${delay}s"

grant=$(as_root kms list-grants --key-id "$key" --query 'Grants[0].GrantId' --output text)
as_root kms revoke-grant --key-id "$key" --grant-id "$grant"
start=$(date +%s.%N)
encrypt_as_app || fail "the revoke took effect at once: the mode did nothing ($(cat "$tmp/err"))"
allowed=1
while encrypt_as_app; do
  allowed=$((allowed + 1))
  sleep 0.2
done
grep -q AccessDeniedException "$tmp/err" || fail "unexpected error: $(cat "$tmp/err")"
took=$(echo "$(date +%s.%N) - $start" | bc)
echo "the revoked grant kept working $allowed times, refused after ${took}s"
awk -v t="$took" -v d="$delay" 'BEGIN { exit !(t < 2 * d + 2 + 30) }' || fail "the revoke took ${took}s, past the bound"
echo "eventual-consistency example ok"
