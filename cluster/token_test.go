package cluster

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestJoinTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tok := JoinToken{ID: "0123456789abcdef", Secret: make([]byte, 32), CAFingerprint: sha256.Sum256([]byte("ca"))}
	tok.Secret[0] = 7
	got, err := ParseJoinToken(tok.String())
	if err != nil || got.String() != tok.String() || string(got.Hash()) != string(tok.Hash()) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	other := tok
	other.ID = "fedcba9876543210"
	if string(other.Hash()) == string(tok.Hash()) {
		t.Fatal("the hash does not bind the token id")
	}
	s := tok.String()
	for name, bad := range map[string]string{
		"empty":         "",
		"wrong prefix":  strings.Replace(s, "trent-join-v1", "trent-join-v2", 1),
		"short id":      strings.Replace(s, tok.ID, "0123", 1),
		"short secret":  strings.Join([]string{"trent-join-v1", tok.ID, "AAAA", strings.Split(s, ".")[3]}, "."),
		"bad pin":       s[:len(s)-2] + "zz",
		"extra part":    s + ".x",
		"padded base64": strings.Replace(s, "."+strings.Split(s, ".")[2]+".", "."+strings.Split(s, ".")[2]+"=.", 1),
	} {
		if _, err := ParseJoinToken(bad); !errors.Is(err, ErrBadJoinToken) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func FuzzParseJoinToken(f *testing.F) {
	tok := JoinToken{ID: "0123456789abcdef", Secret: make([]byte, 32)}
	f.Add(tok.String())
	f.Add("trent-join-v1...")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		again, err := ParseJoinToken(got.String())
		if err != nil || again.String() != got.String() {
			t.Fatalf("accepted token does not re-render: %q", s)
		}
	})
}
