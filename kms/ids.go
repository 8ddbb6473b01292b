package kms

import (
	"encoding/hex"
	"io"

	"github.com/trentkms/trent/uuid"
)

// newUUID returns a random (version 4) UUID and its 16 bytes.
func newUUID(rand io.Reader) (string, [16]byte, error) { return uuid.New(rand) }

func formatUUID(b [16]byte) string { return uuid.Format(b) }

// parseUUID parses the canonical lowercase or uppercase 8-4-4-4-12 form.
func parseUUID(s string) ([16]byte, error) { return uuid.Parse(s) }

func versionHex(b [16]byte) string { return hex.EncodeToString(b[:]) }

func parseVersion(s string) ([16]byte, error) {
	var b [16]byte
	if len(s) != 32 {
		return b, uuid.ErrSyntax
	}
	_, err := hex.Decode(b[:], []byte(s))
	return b, err
}
