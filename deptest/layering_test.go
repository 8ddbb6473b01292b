package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// module is the module path, written "trent" in the graph.
const module = "github.com/trentkms/trent"

// transports, consensus and storage: what the pure packages never reach.
var (
	transports = []string{"net/http/...", "connectrpc.com/connect/...", "google.golang.org/grpc/..."}
	consensus  = []string{"trent/raft", "github.com/hashicorp/raft/...", "github.com/hashicorp/raft-boltdb/...", "go.etcd.io/bbolt/..."}
)

// rules are the promises of docs/architecture.md ("Each package provides
// one idea; arrows point down the list").
var rules = []rule{
	{
		why:  "the service and its rules are transport- and consensus-agnostic",
		from: []string{"trent/kms", "trent/grants", "trent/policy", "trent/fsm", "trent/ciphertext", "trent/lifecycle"},
		deny: append(append([]string(nil), transports...), consensus...),
	},
	{
		why:  "consensus moves opaque commands: raft and the state machine know nothing of each other (server joins them)",
		from: []string{"trent/raft"},
		deny: []string{"trent/fsm"},
	},
	{
		why:  "the state machine never touches an HSM (fsm.Apply is deterministic)",
		from: []string{"trent/fsm"},
		deny: []string{"trent/hsm/..."},
	},
	{
		why:    "nothing imports server, the composition root, but the mains (trent server runs a node)",
		from:   []string{"trent/..."},
		except: []string{"trent/server", "trent/cmd/node", "trent/cmd/trent"},
		deny:   []string{"trent/server"},
		tests:  true,
	},
	{
		why:    "nothing imports the jepsen harness",
		from:   []string{"trent/..."},
		except: []string{"trent/jepsen/..."},
		deny:   []string{"trent/jepsen/..."},
		tests:  true,
	},
	{
		why:  "only tests use the in-memory raft log",
		from: []string{"trent/..."},
		deny: []string{"trent/fsm/fsmtest"},
	},
	{
		why:  "the CLI uses only the generated clients, the wire vocabulary and the backup file format",
		from: []string{"trent/cli", "trent/nodeproc", "trent/loadgen"},
		only: []string{"trent/cli", "trent/gen/...", "trent/identity", "trent/audit", "trent/consistency", "trent/wire", "trent/nodeproc", "trent/loadgen",
			"trent/backup"},
		deny: internals,
	},
	{
		why:  "a backup file is read without the state machine (trent snapshot inspect)",
		from: []string{"trent/backup"},
		only: []string{"trent/backup"},
		deny: internals,
	},
	{
		why:  "the trent binary is the CLI and the server, nothing more",
		from: []string{"trent/cmd/trent"},
		only: []string{"trent/cli", "trent/server"},
	},
	{
		why:  "jepsen drives the binaries over the public API only",
		from: []string{"trent/jepsen/..."},
		only: []string{"trent/jepsen/...", "trent/gen/...", "trent/wire", "trent/nodeproc"},
		deny: internals,
	},
}

// internals are the server side: what a client of the public API never
// needs.
var internals = []string{
	"trent/server", "trent/kms", "trent/iam", "trent/fsm", "trent/raft", "trent/cluster", "trent/gossip",
	"trent/rpc", "trent/awsapi", "trent/hsm/...", "trent/policy", "trent/grants",
	"github.com/hashicorp/raft/...", "go.etcd.io/bbolt/...",
}

// knownViolations are imports that break a rule today, each with the
// change that removes it. Delete an entry when its import is gone (the
// test says so).
var knownViolations = map[edge]string{}

func TestLayering(t *testing.T) {
	g := load(t)
	if len(g) < 50 || g["trent/kms"] == nil {
		t.Fatalf("the import graph has %d packages and no trent/kms: go list read nothing?", len(g))
	}
	for _, line := range append(check(g, rules, knownViolations), checkNames(g)...) {
		t.Error(line)
	}
}

// load runs go list over the module and returns its import graph.
func load(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-test=false", "-tags", "hashicorpmetrics",
		"-json=ImportPath,Name,Imports,TestImports,XTestImports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Name                   string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		g[short(p.ImportPath)] = &pkg{
			name:    p.Name,
			imports: shortAll(p.Imports),
			tests:   shortAll(append(p.TestImports, p.XTestImports...)),
		}
	}
	return g
}

// short writes a module path as "trent/...".
func short(path string) string {
	if path == module {
		return "trent"
	}
	if rest, ok := strings.CutPrefix(path, module+"/"); ok {
		return "trent/" + rest
	}
	return path
}

func shortAll(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = short(p)
	}
	return out
}
