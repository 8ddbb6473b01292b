package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/trentkms/trent/hsm"
	"github.com/trentkms/trent/hsm/pkcs11"
	"github.com/trentkms/trent/hsm/soft"
	"github.com/trentkms/trent/uuid"
)

// openBackend opens the HSM backend cfg.HSM names, creating its state on
// first start (with a fresh domain key if withDomain, the bootstrap node;
// without one on a joining node). Everything backend-specific (for soft:
// the passphrase file, the dev-mode key file) stays in its case here; the
// rest of the server sees an hsm.Backend.
func openBackend(cfg Config, dir string, stderr io.Writer, withDomain bool, obs soft.Observer) (hsm.Backend, error) {
	switch cfg.HSM {
	case "", soft.Kind:
		return openSoft(cfg, dir, stderr, withDomain, obs)
	case pkcs11.Kind:
		return openPKCS11(cfg, withDomain)
	default: // Validate refuses it first
		return nil, fmt.Errorf("--hsm %q is not a backend: use %q or %q", cfg.HSM, soft.Kind, pkcs11.Kind)
	}
}

// openPKCS11 opens the PKCS#11 token the flags name, with the PIN from
// --pkcs11-pin-file or TRENT_PKCS11_PIN. In a binary built without the
// backend it fails with pkcs11.ErrNotCompiled.
func openPKCS11(cfg Config, withDomain bool) (hsm.Backend, error) {
	if !pkcs11.Compiled {
		return nil, fmt.Errorf("--hsm pkcs11: %w", pkcs11.ErrNotCompiled)
	}
	pin, err := pkcs11.ReadPIN(cfg.PKCS11PINFile)
	if err != nil {
		return nil, fmt.Errorf("--hsm pkcs11: %w", err)
	}
	defer clear(pin)
	return openToken(cfg, pin, withDomain)
}

// openToken opens the token the flags name with pin.
func openToken(cfg Config, pin []byte, withDomain bool) (hsm.Backend, error) {
	h, err := pkcs11.Open(pkcs11.Config{
		Module:     cfg.PKCS11Module,
		TokenLabel: cfg.PKCS11TokenLabel,
		PIN:        pin,
		WithDomain: withDomain,
	})
	if err != nil {
		return nil, fmt.Errorf("--hsm pkcs11: %w", err)
	}
	return h, nil
}

// openSoft opens the soft HSM, reporting its operations to obs if set.
// Without a passphrase file it runs in dev mode and says so loudly.
func openSoft(cfg Config, dir string, stderr io.Writer, withDomain bool, obs soft.Observer) (hsm.Backend, error) {
	nc := soft.NodeConfig{Dir: filepath.Join(dir, "hsm"), PassphraseFile: cfg.HSMPassphraseFile, WithDomain: withDomain, Warnings: stderr}
	if nc.PassphraseFile == "" {
		fmt.Fprintf(stderr, "\n"+
			"  ************************************************************************\n"+
			"  * DEV MODE: the soft HSM unseals itself from %s\n"+
			"  * Anyone who can read this data directory can decrypt every key and\n"+
			"  * unseal the cluster CA key (it is in the replicated state).\n"+
			"  * For real use, start with --hsm-passphrase-file.\n"+
			"  ************************************************************************\n\n", nc.DevKeyPath())
	}
	var opts []soft.Option
	if obs != nil {
		opts = append(opts, soft.WithObserver(obs))
	}
	h, err := soft.OpenNode(nc, opts...)
	if err != nil {
		return nil, err // not a nil *soft.HSM in a non-nil hsm.Backend
	}
	return h, nil
}

// forgetKeys makes the node's HSM drop what it cached of keys that left
// the state machine, or whose imported material was deleted
// (fsm.FSM.OnKeysDeleted): every node, leader or not, does it when it
// applies the deletion or restores a snapshot without the key. The state
// machine has already dropped the keys' EKTs.
func (s *Server) forgetKeys(ids []string) {
	for _, id := range ids {
		keyID, err := uuid.Parse(id)
		if err == nil {
			err = s.hsm.Forget(context.Background(), keyID)
			s.forgotten.Add(1)
		}
		if err != nil && !errors.Is(err, hsm.ErrClosed) {
			s.log.Warn("HSM could not forget a deleted key", "key", id, "err", err)
		}
	}
}
