package soft

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestDocsQuoteGoldenVectors checks that docs/ciphertext.md quotes every
// golden vector exactly, so the documentation cannot drift from the code.
func TestDocsQuoteGoldenVectors(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/ciphertext.md")
	if err != nil {
		t.Skipf("docs not available: %v", err)
	}
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var g symGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	for _, v := range g.Vectors {
		for _, field := range []string{v.Material, v.KeyID, v.VersionID, v.Nonce, v.IV, v.MessageKey, v.AAD, v.Body, v.Blob} {
			if !strings.Contains(string(doc), field) {
				t.Errorf("docs/ciphertext.md does not quote vector %s field %s", v.Name, field)
			}
		}
	}
}
