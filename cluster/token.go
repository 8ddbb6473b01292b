package cluster

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

const joinTokenPrefix = "trent-join-v1"

// ErrBadJoinToken is returned for a join token that does not parse.
var ErrBadJoinToken = errors.New("cluster: malformed join token")

// JoinToken is a parsed join token.
type JoinToken struct {
	ID     string
	Secret []byte
	// CAFingerprint is the SHA-256 of the cluster CA certificate (DER).
	CAFingerprint [32]byte
}

func (t JoinToken) String() string {
	return joinTokenPrefix + "." + t.ID + "." + base64.RawURLEncoding.EncodeToString(t.Secret) + "." + hex.EncodeToString(t.CAFingerprint[:])
}

// Hash is what the cluster stores for the token's secret.
func (t JoinToken) Hash() []byte {
	h := sha256.Sum256(append([]byte("trent/join-token/v1:"+t.ID+":"), t.Secret...))
	return h[:]
}

// ParseJoinToken parses the string form.
func ParseJoinToken(s string) (JoinToken, error) {
	var t JoinToken
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 4 || parts[0] != joinTokenPrefix || len(parts[1]) != 16 {
		return t, ErrBadJoinToken
	}
	t.ID = parts[1]
	secret, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil || len(secret) != 32 {
		return t, ErrBadJoinToken
	}
	t.Secret = secret
	fp, err := hex.DecodeString(parts[3])
	if err != nil || len(fp) != 32 {
		return t, ErrBadJoinToken
	}
	copy(t.CAFingerprint[:], fp)
	return t, nil
}
