package kms_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoConsensusEngine checks that the service does not depend on the
// consensus layer: package raft, hashicorp/raft, its log store
// (raft-boltdb) and bbolt, directly or through fsm. kms learns a write's
// fate from wire's ErrNotLeader, ErrShutdown and ErrUnknownOutcome, which
// package raft returns as the same values.
func TestNoConsensusEngine(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/trentkms/trent/kms").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/trentkms/trent/raft", "github.com/hashicorp/raft", "github.com/hashicorp/raft-boltdb", "go.etcd.io/bbolt"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("kms depends on %s", dep)
			}
		}
	}
}
