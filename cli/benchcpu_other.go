//go:build !unix

package cli

// selfCPU is unknown here: CPU per call is not reported.
func selfCPU() float64 { return 0 }
