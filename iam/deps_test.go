package iam_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoKMSDependency checks that iam does not import the kms service:
// what the two share (errors, call info, the log's outcomes) is package
// wire's, and Explain's answer is a policy.Explanation. The tests may use
// kms; the package may not.
func TestNoKMSDependency(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/trentkms/trent/iam").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch dep {
		case "github.com/trentkms/trent/kms", "github.com/trentkms/trent/raft":
			t.Errorf("iam depends on %s", dep)
		}
	}
}
