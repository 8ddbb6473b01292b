#!/usr/bin/env bash
# Process-level cluster test: `trent dev cluster` starts 3 node processes;
# we write through a follower, kill -9 the leader, keep writing through
# another node, decrypt what was written before the kill, then stop the
# cluster with SIGINT and check every node process exited. Only processes
# this script started are signalled, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
dev_pid=""
cleanup() {
  if [ -n "$dev_pid" ] && kill -0 "$dev_pid" 2>/dev/null; then kill -INT "$dev_pid"; wait "$dev_pid" || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "devcluster-test: $*" >&2; for l in "$tmp"/c/n*/node.log; do echo "== $l" >&2; tail -5 "$l" >&2; done; exit 1; }

# No --node-bin: the nodes are this trent binary's `trent server`, as for a
# user who installed only trent.
go build -tags hashicorpmetrics -o "$tmp/trent" ./cmd/trent
"$tmp/trent" dev cluster --nodes 3 --dir "$tmp/c" --base-port "${TRENT_DEVCLUSTER_PORT:-17810}" >"$tmp/dev.out" 2>"$tmp/dev.err" &
dev_pid=$!
for _ in $(seq 1 600); do
  [ -f "$tmp/c/cluster.json" ] && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$tmp/dev.err" >&2; fail "dev cluster exited"; }
  sleep 0.1
done
[ -f "$tmp/c/cluster.json" ] || fail "no cluster.json after 60s"
cat "$tmp/dev.out"

node_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][int(sys.argv[2])][sys.argv[3]])' "$tmp/c/cluster.json" "$1" "$2"; }
t() { "$tmp/trent" --data-dir "$tmp/c/n1" "$@"; }

t --endpoint "$(node_field 0 api_addr)" cluster status --output text
[ -n "$(node_field 2 gossip_addr)" ] || fail "cluster.json has no gossip_addr"
leader=$(t --endpoint "$(node_field 0 api_addr)" cluster status | python3 -c 'import json,sys; print([n["Id"] for n in json.load(sys.stdin)["Nodes"] if n["Role"]=="leader"][0])')
echo "leader: $leader"
others=()
for i in 0 1 2; do
  [ "$(node_field $i id)" = "$leader" ] && leader_i=$i || others+=("$i")
done

a=$(node_field "${others[0]}" api_addr); b=$(node_field "${others[1]}" api_addr)
key=$(t --endpoint "$a" kms create-key --output text --query KeyMetadata.KeyId)
t --endpoint "$a" kms encrypt --key-id "$key" --plaintext survive --output text --query CiphertextBlob | base64 -d >"$tmp/ct"

kill -9 "$(node_field "$leader_i" pid)"
echo "killed leader $leader"
ok=""
for _ in $(seq 1 100); do
  if k2=$(t --endpoint "$b" kms create-key --output text --query KeyMetadata.KeyId 2>/dev/null); then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || fail "no write through $b within 20s of the leader's death"
echo "wrote $k2 through the survivors"
health=""
for _ in $(seq 1 100); do
  health=$(t --endpoint "$b" cluster status | python3 -c 'import json,sys; print([n["Health"] for n in json.load(sys.stdin)["Nodes"] if n["Id"]==sys.argv[1]][0])' "$leader")
  [ "$health" = dead ] && break
  sleep 0.2
done
[ "$health" = dead ] || fail "gossip did not report the killed leader dead within 20s (health: $health)"
echo "gossip reports $leader dead"
got=$(t --endpoint "$b" kms decrypt --ciphertext-blob "fileb://$tmp/ct" --output text --query Plaintext | base64 -d)
[ "$got" = "survive" ] || fail "decrypt after failover returned '$got'"

kill -INT "$dev_pid"
wait "$dev_pid" || fail "dev cluster did not exit cleanly"
dev_pid=""
for i in 0 1 2; do
  pid=$(node_field $i pid)
  if kill -0 "$pid" 2>/dev/null; then fail "node pid $pid still running after Ctrl-C"; fi
done
echo "devcluster-test: all checks passed"
