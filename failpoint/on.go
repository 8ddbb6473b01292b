//go:build faultinject

package failpoint

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Enabled says whether this build has fault points (-tags faultinject).
const Enabled = true

var control = struct {
	sync.Mutex
	size    int64
	mod     time.Time
	actions map[string]string
}{}

// actions returns the control file's points, read again if it changed.
func actions() map[string]string {
	path := os.Getenv(Env)
	if path == "" {
		return nil
	}
	control.Lock()
	defer control.Unlock()
	st, err := os.Stat(path)
	if err != nil {
		control.actions, control.size, control.mod = nil, -1, time.Time{}
		return nil
	}
	if control.actions != nil && st.Size() == control.size && st.ModTime().Equal(control.mod) {
		return control.actions
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return control.actions
	}
	control.actions, control.size, control.mod = parse(b), st.Size(), st.ModTime()
	return control.actions
}

func parse(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if name, action, ok := strings.Cut(line, "="); ok {
			m[strings.TrimSpace(name)] = strings.TrimSpace(action)
		}
	}
	return m
}

// Hit is the fault point name: it returns ErrInjected if the point is
// set to "error", kills the process if it is set to "crash", and returns
// nil otherwise.
func Hit(name string) error {
	switch actions()[name] {
	case "error":
		return fmt.Errorf("%s: %w", name, ErrInjected)
	case "crash":
		fmt.Fprintf(os.Stderr, "failpoint %s: crashing (SIGKILL)\n", name)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	return nil
}

// On says whether the switch name is set to "on".
func On(name string) bool { return actions()[name] == "on" }

// Int returns the number set for name, if any.
func Int(name string) (int64, bool) {
	v, err := strconv.ParseInt(actions()[name], 10, 64)
	return v, err == nil
}
