package soft

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// NodeConfig says where a node keeps its soft HSM and how it unseals it:
// the backend-specific half of a node's configuration.
type NodeConfig struct {
	// Dir holds the sealed state file, "state", and in dev mode the key
	// file, "unseal.key". It is created (mode 0700) if missing.
	Dir string
	// PassphraseFile names the file holding the unseal passphrase (see
	// [ReadPassphraseFile]). Empty means dev mode: the HSM unseals itself
	// with [InsecureDevKeyFile] from Dir, created on first start.
	PassphraseFile string
	// WithDomain makes a node creating its HSM generate a fresh domain
	// key: the node that bootstraps a cluster. A joining node leaves it
	// unset and imports the key (ImportDomain).
	WithDomain bool
	// Warnings receives a warning when an existing state is unsealed with
	// a passphrase shorter than [MinPassphraseLen]; nil discards it.
	Warnings io.Writer
}

// DevKeyPath returns the dev-mode key file's path for a node with c.
func (c NodeConfig) DevKeyPath() string { return filepath.Join(c.Dir, "unseal.key") }

// OpenNode opens the node's HSM, creating it on first start.
func OpenNode(c NodeConfig, opts ...Option) (*HSM, error) {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	statePath := filepath.Join(c.Dir, "state")
	_, err := os.Lstat(statePath)
	creating := errors.Is(err, fs.ErrNotExist)
	var u Unsealer
	if c.PassphraseFile != "" {
		pass, err := ReadPassphraseFile(c.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("passphrase file %s: %w", c.PassphraseFile, err)
		}
		// Argon2 has used the passphrase by the time Create or Open returns.
		defer clear(pass)
		if !creating && len(pass) < MinPassphraseLen && c.Warnings != nil {
			fmt.Fprintf(c.Warnings, "WARNING: the HSM passphrase in %s is %d bytes long; new nodes need at least %d. "+
				"It still unseals this node's existing state, but is easier to guess.\n", c.PassphraseFile, len(pass), MinPassphraseLen)
		}
		u = Passphrase(pass)
	} else {
		u = InsecureDevKeyFile(c.DevKeyPath(), true)
	}
	if creating {
		create := Create
		if !c.WithDomain {
			create = CreateWithoutDomain
		}
		h, err := create(statePath, u, opts...)
		if errors.Is(err, ErrShortPassphrase) {
			return nil, fmt.Errorf("passphrase file %s: %w; choose a longer one", c.PassphraseFile, err)
		}
		if err != nil {
			return nil, fmt.Errorf("create soft HSM: %w", err)
		}
		return h, nil
	}
	h, err := Open(statePath, u, opts...)
	if err != nil {
		return nil, fmt.Errorf("unseal soft HSM %s: %w", statePath, err)
	}
	return h, nil
}
