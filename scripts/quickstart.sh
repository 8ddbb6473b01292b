#!/usr/bin/env bash
# Runs the README quickstart against a real node: builds the binaries,
# starts a node on loopback, and drives it with the trent CLI and curl.
# Exits non-zero on the first surprise. Only the node it started is
# stopped, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${TRENT_QUICKSTART_PORT:-17700}
tmp=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then kill "$node_pid"; wait "$node_pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "quickstart: $*" >&2; [ -f "$tmp/node.log" ] && tail -20 "$tmp/node.log" >&2; exit 1; }

go build -tags hashicorpmetrics -o "$tmp/trent" ./cmd/trent
export TRENT_ENDPOINT="127.0.0.1:$port"
data="$tmp/trent-data"
trent() { "$tmp/trent" --data-dir "$data" "$@"; }

start_node() {
  # Truncate here, not only in the redirection below: that one runs in the
  # background child, and the wait loop could first read the previous
  # run's "is serving on" line and call a node that is not up yet.
  : >"$tmp/node.log"
  "$tmp/trent" server --data-dir "$data" --api-addr "127.0.0.1:$port" --raft-addr "127.0.0.1:$((port + 1))" --gossip-addr "127.0.0.1:$((port + 2))" >"$tmp/node.log" 2>&1 &
  node_pid=$!
  for _ in $(seq 1 300); do
    grep -q "is serving on" "$tmp/node.log" && return 0
    kill -0 "$node_pid" 2>/dev/null || fail "node exited during start"
    sleep 0.1
  done
  fail "node did not start within 30s"
}
stop_node() {
  kill -TERM "$node_pid"
  wait "$node_pid" || fail "node did not exit cleanly on SIGTERM"
  node_pid=""
}

start_node
grep -q "DEV MODE" "$tmp/node.log" || fail "dev mode warning missing"

key=$(trent kms create-key --description quickstart --output text --query KeyMetadata.KeyId)
[ -n "$key" ] || fail "create-key returned no key id"
echo "created key $key"

trent kms encrypt --key-id "$key" --plaintext "hello, trent" --encryption-context customerID=3369 \
  --output text --query CiphertextBlob | base64 -d >"$tmp/ct.bin"
got=$(trent kms decrypt --ciphertext-blob "fileb://$tmp/ct.bin" --encryption-context customerID=3369 \
  --output text --query Plaintext | base64 -d)
[ "$got" = "hello, trent" ] || fail "decrypt returned '$got'"
echo "encrypt/decrypt round trip ok"

if trent kms decrypt --ciphertext-blob "fileb://$tmp/ct.bin" 2>"$tmp/err"; then fail "decrypt without context succeeded"; fi
grep -q "InvalidCiphertextException" "$tmp/err" || fail "wrong error: $(cat "$tmp/err")"

dk=$(trent kms generate-data-key --key-id "$key" --key-spec AES_256 --output text --query Plaintext | base64 -d | wc -c)
[ "$dk" -eq 32 ] || fail "data key has $dk bytes"

# Connect's JSON protocol with curl and the admin certificate.
admin="$data/admin"
curl -sf --cacert "$admin/ca.pem" --cert "$admin/cert.pem" --key "$admin/key.pem" \
  -H 'Content-Type: application/json' -d "{\"KeyId\":\"$key\"}" \
  "https://127.0.0.1:$port/trent.kms.v1.KeyManagementService/DescribeKey" >"$tmp/describe.json" || fail "curl DescribeKey failed"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["KeyMetadata"]; assert m["KeyState"]=="Enabled" and m["Description"]=="quickstart", m' "$tmp/describe.json" \
  || fail "unexpected DescribeKey body: $(cat "$tmp/describe.json")"
echo "curl DescribeKey ok"

trent kms disable-key --key-id "$key"
if trent kms encrypt --key-id "$key" --plaintext x 2>"$tmp/err"; then fail "encrypt with a disabled key succeeded"; fi
grep -q "DisabledException" "$tmp/err" || fail "wrong error: $(cat "$tmp/err")"

# The canonical grant scenario with a second principal: bob gets
# GenerateDataKey and Decrypt under EncryptionContextSubset customerID=3369.
trent kms enable-key --key-id "$key"
trent iam create-user --user-name bob >/dev/null
trent iam issue-cert --user-name bob --out "$tmp/bob" >/dev/null
bob() { "$tmp/trent" --ca "$tmp/bob/ca.pem" --cert "$tmp/bob/cert.pem" --key "$tmp/bob/key.pem" "$@"; }
grantee=$(python3 -c 'import sys; print("arn:aws:iam::111122223333:user/bob")')
trent kms create-grant --key-id "$key" --grantee-principal "$grantee" --operations GenerateDataKey Decrypt \
  --constraints 'EncryptionContextSubset={customerID=3369}' >/dev/null
bob kms generate-data-key --key-id "$key" --key-spec AES_256 --encryption-context customerID=3369 >/dev/null \
  || fail "bob cannot use his grant"
if bob kms generate-data-key --key-id "$key" --key-spec AES_256 2>"$tmp/err" >/dev/null; then fail "bob used the grant without the context"; fi
grep -q AccessDeniedException "$tmp/err" || fail "wrong error: $(cat "$tmp/err")"
if bob kms encrypt --key-id "$key" --plaintext x 2>"$tmp/err" >/dev/null; then fail "bob encrypted without an Encrypt grant"; fi
echo "grant scenario ok"

# Key policies: an explicit deny beats bob's grant; the default policy
# (AWS's exact document) comes back with put-key-policy.
trent kms get-key-policy --key-id "$key" --policy-name default --output text --query Policy >"$tmp/default-policy.json"
grep -q '"Sid" *: *"Enable IAM User Permissions"' "$tmp/default-policy.json" || fail "not the default key policy: $(cat "$tmp/default-policy.json")"
python3 - "$tmp/default-policy.json" "$grantee" >"$tmp/deny-policy.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["Statement"].append({"Sid": "DenyBob", "Effect": "Deny", "Principal": {"AWS": sys.argv[2]},
                       "Action": "kms:GenerateDataKey", "Resource": "*"})
print(json.dumps(p))
PY
trent kms put-key-policy --key-id "$key" --policy-name default --policy "file://$tmp/deny-policy.json"
if bob kms generate-data-key --key-id "$key" --key-spec AES_256 --encryption-context customerID=3369 --max-staleness 0s 2>"$tmp/err" >/dev/null; then
  fail "an explicit deny in the key policy did not beat bob's grant"
fi
grep -q AccessDeniedException "$tmp/err" || fail "wrong error: $(cat "$tmp/err")"
trent kms put-key-policy --key-id "$key" --policy-name default --policy "file://$tmp/default-policy.json"
bob kms generate-data-key --key-id "$key" --key-spec AES_256 --encryption-context customerID=3369 --max-staleness 0s >/dev/null \
  || fail "bob's grant did not work again under the default policy"
echo "key policy ok"

# Read modes: every response says how it was served.
trent kms describe-key --key-id "$key" --consistency linearizable --show-consistency 2>"$tmp/meta" >/dev/null
grep -q "consistency=linearizable" "$tmp/meta" || fail "no consistency metadata: $(cat "$tmp/meta")"
trent kms describe-key --key-id "$key" --show-consistency 2>"$tmp/meta" >/dev/null
grep -Eq "served-by=node1 consistency=bounded applied-index=[0-9]+ staleness-bound=" "$tmp/meta" || fail "bounded metadata: $(cat "$tmp/meta")"
if trent kms describe-key --key-id "$key" --consistency eventual 2>"$tmp/err" >/dev/null; then fail "an unknown read mode was accepted"; fi
echo "read modes ok"

# The AWS CLI against the same port, with an access key of the account root.
trent iam create-access-key >"$tmp/ak.json"
eval "$(python3 -c 'import json,sys; k=json.load(open(sys.argv[1]))["AccessKey"]; print("export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s" % (k["AccessKeyId"], k["SecretAccessKey"]))' "$tmp/ak.json")"
TRENT_AWS_ENDPOINT="https://127.0.0.1:$port" AWS_CA_BUNDLE="$admin/ca.pem" scripts/awscli-e2e.sh || fail "AWS CLI end to end"
echo "aws cli ok"

# Durability: restart on the same data dir, then decrypt the old ciphertext.
stop_node
start_node
trent kms enable-key --key-id "$key"
got=$(trent kms decrypt --ciphertext-blob "fileb://$tmp/ct.bin" --encryption-context customerID=3369 \
  --output text --query Plaintext | base64 -d)
[ "$got" = "hello, trent" ] || fail "decrypt after restart returned '$got'"
echo "restart and decrypt ok"
stop_node
echo "quickstart: all checks passed"
