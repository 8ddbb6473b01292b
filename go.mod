module github.com/trentkms/trent

go 1.26.0

// go-metrics v0.7.0 (required by raft v1.8.0 and memberlist v0.7.0) removed the
// compat package that raft-boltdb/v2 v2.3.1 imports; v0.6.1 has both APIs.
// Build with -tags hashicorpmetrics so all metrics reach one sink.
replace github.com/hashicorp/go-metrics => github.com/hashicorp/go-metrics v0.6.1

require (
	connectrpc.com/connect v1.21.1
	google.golang.org/protobuf v1.36.12
)
