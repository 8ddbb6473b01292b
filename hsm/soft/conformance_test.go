package soft_test

import (
	"path/filepath"
	"testing"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/hsmtest"
	"github.com/trentkms/trent/hsm/soft"
)

// TestConformance holds the soft HSM to the hsm.Backend contract.
func TestConformance(t *testing.T) {
	hsmtest.Run(t, func(t *testing.T, domain bool) hsm.Backend {
		dir := t.TempDir()
		h, err := soft.OpenNode(soft.NodeConfig{Dir: filepath.Join(dir, "hsm"), WithDomain: domain})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	})
}
