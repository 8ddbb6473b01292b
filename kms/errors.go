package kms

import (
	"fmt"

	"github.com/trentkms/trent/wire"
)

// The service's errors are *wire.Error values named with wire's AWS KMS
// error names.

func newError(typ, format string, args ...any) *wire.Error {
	return wire.Errorf(typ, format, args...)
}

// validation returns a ValidationException in AWS's Coral style.
func validation(format string, args ...any) *wire.Error {
	return &wire.Error{Type: wire.Validation, Message: "1 validation error detected: " + fmt.Sprintf(format, args...)}
}
