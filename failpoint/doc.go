// Package failpoint places named fault points in the node's storage
// paths (the raft log store, snapshots, the state machine, the audit
// writer, the soft HSM's state files, the leader's lifecycle work), in
// the spirit of etcd's gofail. In a normal build every point is a
// constant no-op the compiler removes. Built with -tags faultinject, a
// point consults a control file named by the TRENT_FAILPOINTS
// environment variable, which a test harness rewrites while the node
// runs, one point a line:
//
//	raft-log-append=error     # the point returns an injected I/O error
//	audit-commit=crash        # the process kills itself (SIGKILL) there
//	audit-ack-on-error=on     # a switch (the canaries' broken behaviours)
//	audit-max-file-bytes=4096 # a number (settings tests need small)
//
// Lines starting with # and unknown actions are ignored; a point not
// listed, or an absent file, is off. The file is read again whenever its
// size or modification time changes.
package failpoint

import (
	"errors"
	"syscall"
)

// Env names the control file.
const Env = "TRENT_FAILPOINTS"

// ErrInjected is what a point set to "error" returns. It wraps EIO, as a
// failed write or fsync would.
var ErrInjected = errors.Join(errors.New("failpoint: injected I/O error"), syscall.EIO)
