package grants

import (
	"encoding/hex"
	"fmt"
)

// ValidName reports whether name is a valid grant Name: 1 to 256
// characters of [a-zA-Z0-9:/_-].
func ValidName(name string) error {
	if len(name) < 1 || len(name) > 256 {
		return fmt.Errorf("Value at 'name' failed to satisfy constraint: Member must have length between 1 and 256")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '/' || c == '_' || c == '-') {
			return fmt.Errorf("Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$", name)
		}
	}
	return nil
}

// ParseID parses a grant id: 64 lowercase hex characters.
func ParseID(id string) ([32]byte, error) {
	var b [32]byte
	if len(id) != 64 {
		return b, fmt.Errorf("invalid grant id")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return b, fmt.Errorf("invalid grant id")
		}
	}
	_, err := hex.Decode(b[:], []byte(id))
	return b, err
}
