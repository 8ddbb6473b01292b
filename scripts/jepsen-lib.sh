# Sourced by the Jepsen scripts (jepsen-smoke.sh, jepsen-seeds.sh): builds
# the node, the trent CLI and the jepsen command once into a temporary
# directory, removed at exit, named by $bin.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -tags hashicorpmetrics -o "$bin/node" ./cmd/node
# The disk cells' fsync failures and crash points (and the disk canaries)
# need the node's fault points: a second build with -tags faultinject.
go build -tags hashicorpmetrics,faultinject -o "$bin/node-faultinject" ./cmd/node
go build -o "$bin/trent" ./cmd/trent
go build -o "$bin/jepsen" ./jepsen/cmd/jepsen
