package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/trentkms/trent/hsm/soft"
)

// openHSM opens the soft HSM, creating it on first start (with a fresh
// domain key if withDomain, the bootstrap node; without one on a joining
// node). Without a passphrase file it runs in dev mode and says so loudly.
func openHSM(dir, passphraseFile string, stderr io.Writer, withDomain bool) (*soft.HSM, error) {
	hsmDir := filepath.Join(dir, "hsm")
	if err := os.MkdirAll(hsmDir, 0o700); err != nil {
		return nil, err
	}
	statePath := filepath.Join(hsmDir, "state")
	_, err := os.Lstat(statePath)
	creating := errors.Is(err, fs.ErrNotExist)
	var u soft.Unsealer
	if passphraseFile != "" {
		pass, err := soft.ReadPassphraseFile(passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("--hsm-passphrase-file: %w", err)
		}
		// Argon2 has used the passphrase by the time Create or Open returns.
		defer clear(pass)
		if !creating && len(pass) < soft.MinPassphraseLen {
			fmt.Fprintf(stderr, "WARNING: the HSM passphrase in %s is %d bytes long; new nodes need at least %d. "+
				"It still unseals this node's existing state, but is easier to guess.\n", passphraseFile, len(pass), soft.MinPassphraseLen)
		}
		u = soft.Passphrase(pass)
	} else {
		keyPath := filepath.Join(hsmDir, "unseal.key")
		u = soft.KeyFile(keyPath, true)
		fmt.Fprintf(stderr, "\n"+
			"  ************************************************************************\n"+
			"  * DEV MODE: the soft HSM unseals itself from %s\n"+
			"  * Anyone who can read this data directory can decrypt every key and\n"+
			"  * unseal the cluster CA key (it is in the replicated state).\n"+
			"  * For real use, start with --hsm-passphrase-file.\n"+
			"  ************************************************************************\n\n", keyPath)
	}
	if creating {
		create := soft.Create
		if !withDomain {
			create = soft.CreateWithoutDomain
		}
		h, err := create(statePath, u)
		if errors.Is(err, soft.ErrShortPassphrase) {
			return nil, fmt.Errorf("--hsm-passphrase-file %s: %w; choose a longer one", passphraseFile, err)
		}
		if err != nil {
			return nil, fmt.Errorf("create soft HSM: %w", err)
		}
		return h, nil
	}
	h, err := soft.Open(statePath, u)
	if err != nil {
		return nil, fmt.Errorf("unseal soft HSM %s: %w", statePath, err)
	}
	return h, nil
}
