package grants

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"strings"
)

// MACer computes a MAC under a cluster-wide key held in the HSMs: every
// hsm.Backend is one (grants imports no HSM package, to stay a pure rule
// package; kms passes its HSM here, so the compiler checks the fit).
type MACer interface {
	MAC(ctx context.Context, label string, msg []byte) ([]byte, error)
}

// tokenLabel names the MAC subkey of grant tokens.
const tokenLabel = "trent/grant-token/v1"

const (
	tokenVersion = 1
	tokenPrefix  = "v1."
	tokenBody    = 1 + 32 + 16 + 8 + 16
	tokenSize    = tokenBody + 32
	// MaxTokenLength is the longest token string Trent issues.
	MaxTokenLength = len(tokenPrefix) + (tokenSize*8+5)/6
)

// ErrInvalidToken is returned for a token that is malformed or whose tag
// does not verify. It says nothing about which.
var ErrInvalidToken = errors.New("grants: invalid grant token")

// Token is what a grant token refers to.
type Token struct {
	GrantID      [32]byte
	KeyID        [16]byte
	CreatedIndex uint64
}

// IssueToken returns a new token for t, unique per call (random nonce).
func IssueToken(ctx context.Context, m MACer, rand io.Reader, t Token) (string, error) {
	var b [tokenSize]byte
	b[0] = tokenVersion
	copy(b[1:33], t.GrantID[:])
	copy(b[33:49], t.KeyID[:])
	binary.BigEndian.PutUint64(b[49:57], t.CreatedIndex)
	if _, err := io.ReadFull(rand, b[57:73]); err != nil {
		return "", err
	}
	tag, err := m.MAC(ctx, tokenLabel, b[:tokenBody])
	if err != nil {
		return "", err
	}
	if len(tag) != 32 {
		return "", errors.New("grants: MAC is not 32 bytes")
	}
	copy(b[tokenBody:], tag)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ParseToken decodes a token without verifying it.
func ParseToken(s string) (Token, []byte, []byte, error) {
	var t Token
	if len(s) > MaxTokenLength || !strings.HasPrefix(s, tokenPrefix) {
		return t, nil, nil, ErrInvalidToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s[len(tokenPrefix):])
	if err != nil || len(b) != tokenSize || b[0] != tokenVersion {
		return t, nil, nil, ErrInvalidToken
	}
	copy(t.GrantID[:], b[1:33])
	copy(t.KeyID[:], b[33:49])
	t.CreatedIndex = binary.BigEndian.Uint64(b[49:57])
	return t, b[:tokenBody], b[tokenBody:], nil
}

// VerifyToken parses s and checks its tag. Any failure is ErrInvalidToken,
// except an error of the MACer itself (for example a sealed HSM), which is
// returned as is.
func VerifyToken(ctx context.Context, m MACer, s string) (Token, error) {
	t, body, tag, err := ParseToken(s)
	if err != nil {
		return Token{}, err
	}
	want, err := m.MAC(ctx, tokenLabel, body)
	if err != nil {
		return Token{}, err
	}
	if !hmac.Equal(want, tag) {
		return Token{}, ErrInvalidToken
	}
	return t, nil
}
