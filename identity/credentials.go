package identity

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Names of the files in a credential directory.
const (
	CAFile   = "ca.pem"   // the cluster CA certificate(s)
	CertFile = "cert.pem" // this node's or client's certificate
	KeyFile  = "key.pem"  // its private key, mode 0600
)

// WriteCredentials writes a credential directory: caPEM to ca.pem, certPEM
// to cert.pem and keyPEM to key.pem. It creates dir with mode 0700 if it
// does not exist (an existing directory keeps its mode). Certificates get
// mode 0644 and the key 0600.
//
// Each file is replaced atomically (written to a temporary file, synced and
// renamed), so a reader sees the old file or the new one, never a torn one.
// The three files are not replaced as one; [LoadCredentials] detects a
// certificate and key that do not belong together. The key is written last.
//
// The contents are checked first: caPEM must hold certificates, and certPEM
// and keyPEM must be a matching pair issued by one of them.
func WriteCredentials(dir string, caPEM, certPEM, keyPEM []byte) error {
	if _, _, err := parseCredentials(caPEM, certPEM, keyPEM); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating credential directory: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{CAFile, caPEM, 0o644},
		{CertFile, certPEM, 0o644},
		{KeyFile, keyPEM, 0o600},
	} {
		if err := writeFileAtomic(dir, f.name, f.data, f.perm); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// LoadCredentials reads a credential directory written by
// [WriteCredentials]: a pool of the CA certificates in ca.pem, and the
// certificate and key from cert.pem and key.pem (with Leaf set). It fails
// if key.pem is readable or writable by group or others, or if the
// certificate was not issued by a CA in ca.pem. It does not check
// validity dates; TLS handshakes do.
func LoadCredentials(dir string) (caPool *x509.CertPool, cert tls.Certificate, err error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reading credentials: %w", err)
		}
		return b, nil
	}
	caPEM, err := read(CAFile)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	certPEM, err := read(CertFile)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	keyPath := filepath.Join(dir, KeyFile)
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(keyPath)
		if err != nil {
			return nil, tls.Certificate{}, fmt.Errorf("reading credentials: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, tls.Certificate{}, fmt.Errorf("%s is accessible by group or others (mode %v); run chmod 600 on it", keyPath, fi.Mode().Perm())
		}
	}
	keyPEM, err := read(KeyFile)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	pool, pair, err := parseCredentials(caPEM, certPEM, keyPEM)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("credentials in %s: %w", dir, err)
	}
	return pool, pair, nil
}

// parseCredentials checks that caPEM holds CA certificates, and that
// certPEM and keyPEM are a key pair whose certificate one of them issued.
func parseCredentials(caPEM, certPEM, keyPEM []byte) (*x509.CertPool, tls.Certificate, error) {
	var cas []*x509.Certificate
	for rest := caPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, tls.Certificate{}, fmt.Errorf("%s: PEM block is %q, want \"CERTIFICATE\"", CAFile, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, tls.Certificate{}, fmt.Errorf("%s: %w", CAFile, err)
		}
		if !c.IsCA {
			return nil, tls.Certificate{}, fmt.Errorf("%s: certificate %q is not a CA", CAFile, c.Subject)
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, tls.Certificate{}, fmt.Errorf("%s: no certificates found", CAFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("%s and %s: %w", CertFile, KeyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, tls.Certificate{}, fmt.Errorf("%s: %w", CertFile, err)
		}
	}
	pool := x509.NewCertPool()
	issued := false
	for _, c := range cas {
		pool.AddCert(c)
		if pair.Leaf.CheckSignatureFrom(c) == nil {
			issued = true
		}
	}
	if !issued {
		return nil, tls.Certificate{}, fmt.Errorf("%s was not issued by a CA in %s", CertFile, CAFile)
	}
	return pool, pair, nil
}

// writeFileAtomic replaces dir/name with data, mode perm, by writing a
// temporary file in dir, syncing it and renaming it into place.
func writeFileAtomic(dir, name string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// syncDir makes the renames in dir durable. Directories cannot be synced
// on Windows; there it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing credential directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("syncing credential directory: %w", err)
	}
	return nil
}
