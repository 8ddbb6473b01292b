package kms_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

// failingHSM passes calls to an HSM until fail is set, then fails every
// call with an error whose text must stay in the node's log.
type failingHSM struct {
	kms.HSM
	fail atomic.Pointer[error]
}

const backendDetail = "slot 3 of /usr/lib/softhsm/libsofthsm2.so"

func (h *failingHSM) err() error {
	if p := h.fail.Load(); p != nil {
		return *p
	}
	return nil
}

func (h *failingHSM) GenerateKey(ctx context.Context, spec hsm.KeySpec, keyID, versionID [16]byte) ([]byte, error) {
	if err := h.err(); err != nil {
		return nil, err
	}
	return h.HSM.GenerateKey(ctx, spec, keyID, versionID)
}

func (h *failingHSM) Seal(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, plaintext []byte) ([]byte, error) {
	if err := h.err(); err != nil {
		return nil, err
	}
	return h.HSM.Seal(ctx, ref, nonce, aad, plaintext)
}

func (h *failingHSM) Open(ctx context.Context, ref hsm.KeyRef, nonce [16]byte, aad, body []byte) ([]byte, error) {
	if err := h.err(); err != nil {
		return nil, err
	}
	return h.HSM.Open(ctx, ref, nonce, aad, body)
}

func (h *failingHSM) Random(ctx context.Context, n int) ([]byte, error) {
	if err := h.err(); err != nil {
		return nil, err
	}
	return h.HSM.Random(ctx, n)
}

// No HSM error text reaches a client: an authentication failure is
// InvalidCiphertextException, anything else KMSInternalException, and
// neither message says what the backend said.
func TestHSMErrorsStayInTheLog(t *testing.T) {
	t.Parallel()
	var fh *failingHSM
	e := newEnvMax(t, nil, 20, func(c *kms.Config) {
		fh = &failingHSM{HSM: c.HSM}
		c.HSM = fh
	})
	k := e.createKey(t)
	enc, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"CreateKey": func() error { _, err := e.svc.CreateKey(e.root, &kmsv1.CreateKeyRequest{}); return err },
		"Encrypt": func() error {
			_, err := e.svc.Encrypt(e.root, &kmsv1.EncryptRequest{KeyId: k.KeyId, Plaintext: []byte("x")})
			return err
		},
		"Decrypt": func() error {
			_, err := e.svc.Decrypt(e.root, &kmsv1.DecryptRequest{CiphertextBlob: enc.CiphertextBlob})
			return err
		},
		"GenerateDataKey": func() error {
			_, err := e.svc.GenerateDataKey(e.root, &kmsv1.GenerateDataKeyRequest{KeyId: k.KeyId, KeySpec: "AES_256"})
			return err
		},
		"GenerateRandom": func() error {
			_, err := e.svc.GenerateRandom(e.root, &kmsv1.GenerateRandomRequest{NumberOfBytes: i32(16)})
			return err
		},
	}
	for _, tc := range []struct {
		name string
		err  error
		want map[string]string // call: error type, for the calls it differs
	}{
		{"sealed", fmt.Errorf("%s: %w", backendDetail, hsm.ErrSealed), nil},
		{"closed", fmt.Errorf("%s: %w", backendDetail, hsm.ErrClosed), nil},
		{"other", errors.New(backendDetail), nil},
		{"authentication", fmt.Errorf("%s: %w", backendDetail, hsm.ErrAuthentication),
			map[string]string{"Decrypt": wire.InvalidCiphertext}},
	} {
		fh.fail.Store(&tc.err)
		for name, call := range calls {
			err := call()
			want := wire.KMSInternal
			if w, ok := tc.want[name]; ok {
				want = w
			}
			var ke *wire.Error
			if !errors.As(err, &ke) || ke.Type != want {
				t.Errorf("%s, %s: err = %v, want %s", tc.name, name, err, want)
				continue
			}
			if strings.Contains(err.Error(), "slot 3") || strings.Contains(err.Error(), "hsm:") {
				t.Errorf("%s, %s: the client sees the HSM's error: %v", tc.name, name, err)
			}
		}
	}
}
