//go:build !unix

package soft

// oNoFollow is zero where the system has no O_NOFOLLOW.
const oNoFollow = 0

func isSymlinkRefusal(error) bool { return false }
