//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cli

import (
	"errors"
	"os"
)

func readNoEcho(*os.File) ([]byte, error) {
	return nil, errors.New("this system cannot read a passphrase from the terminal without echo: give it as the first line of stdin")
}
