//go:build unix

package soft

import (
	"errors"
	"syscall"
)

// oNoFollow makes opening a symbolic link fail.
const oNoFollow = syscall.O_NOFOLLOW

// isSymlinkRefusal reports whether err is how opening with oNoFollow
// refuses a symbolic link: ELOOP (Linux, macOS) or EMLINK (FreeBSD,
// NetBSD).
func isSymlinkRefusal(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK)
}
