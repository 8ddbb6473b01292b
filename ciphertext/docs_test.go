package ciphertext_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestDocsQuoteGoldenVectors checks that docs/ciphertext.md quotes every
// canonical context vector exactly.
func TestDocsQuoteGoldenVectors(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/ciphertext.md")
	if err != nil {
		t.Skipf("docs not available: %v", err)
	}
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	for _, v := range g.Contexts {
		if !strings.Contains(string(doc), "`"+v.Canonical+"`") {
			t.Errorf("docs/ciphertext.md does not quote context vector %s", v.Name)
		}
	}
}
