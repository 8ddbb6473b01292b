//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cli

import (
	"bufio"
	"os"

	"golang.org/x/sys/unix"
)

// readNoEcho reads a line from the terminal f with echo off, restoring
// the terminal's settings afterwards.
func readNoEcho(f *os.File) ([]byte, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &quiet); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, ioctlSetTermios, old) //nolint:errcheck // best effort
	r := bufio.NewReaderSize(f, maxSecret+1)
	line, err := r.ReadSlice('\n')
	out := append([]byte(nil), line...)
	clear(line)
	if err != nil && len(out) == 0 {
		return nil, err
	}
	return out, nil
}
