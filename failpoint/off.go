//go:build !faultinject

package failpoint

// Enabled says whether this build has fault points (-tags faultinject).
const Enabled = false

// Hit is the fault point name: nil, in this build.
func Hit(name string) error { return nil }

// On says whether the switch name is on: never, in this build.
func On(name string) bool { return false }

// Int returns the number set for name: none, in this build.
func Int(name string) (int64, bool) { return 0, false }
