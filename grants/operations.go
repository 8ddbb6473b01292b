package grants

import (
	"fmt"
	"math/bits"
	"strings"
)

// Operation is one grant operation, as a bit in a replicated set.
type Operation uint32

// The 17 grant operations, in AWS's enum order. The bit positions are
// replicated and must never change; new operations take new bits.
const (
	Decrypt Operation = 1 << iota
	Encrypt
	GenerateDataKey
	GenerateDataKeyWithoutPlaintext
	ReEncryptFrom
	ReEncryptTo
	Sign
	Verify
	GetPublicKey
	CreateGrant
	RetireGrant
	DescribeKey
	GenerateDataKeyPair
	GenerateDataKeyPairWithoutPlaintext
	GenerateMac
	VerifyMac
	DeriveSharedSecret
)

var names = [...]string{
	"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
	"Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey", "GenerateDataKeyPair",
	"GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
}

// Set is a set of operations.
type Set uint32

// Has reports whether s includes op.
func (s Set) Has(op Operation) bool { return uint32(s)&uint32(op) != 0 }

// SubsetOf reports whether every operation of s is in t.
func (s Set) SubsetOf(t Set) bool { return s&^t == 0 }

// Names returns the AWS names of s, in AWS's enum order.
func (s Set) Names() []string {
	out := make([]string, 0, bits.OnesCount32(uint32(s)))
	for i, n := range names {
		if uint32(s)&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Lookup returns the operation named name (exact AWS spelling).
func Lookup(name string) (Operation, bool) {
	for i, n := range names {
		if n == name {
			return Operation(1 << i), true
		}
	}
	return 0, false
}

// String returns the AWS name of op.
func (op Operation) String() string {
	if op == 0 || bits.OnesCount32(uint32(op)) != 1 || bits.TrailingZeros32(uint32(op)) >= len(names) {
		return fmt.Sprintf("Operation(%#x)", uint32(op))
	}
	return names[bits.TrailingZeros32(uint32(op))]
}

// ParseSet parses the Operations member of CreateGrant. It must name at
// least one operation, each spelled as AWS spells it; duplicates collapse.
func ParseSet(ops []string) (Set, error) {
	if len(ops) == 0 {
		return 0, fmt.Errorf("Operations must name at least one grant operation")
	}
	var s Set
	for _, name := range ops {
		op, ok := Lookup(name)
		if !ok {
			return 0, fmt.Errorf("Value '%s' at 'operations' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
				name, strings.Join(names[:], ", "))
		}
		s |= Set(op)
	}
	return s, nil
}

// symmetricOps are the operations a symmetric encryption key supports.
const symmetricOps = Set(Decrypt | Encrypt | GenerateDataKey | GenerateDataKeyWithoutPlaintext | ReEncryptFrom |
	ReEncryptTo | CreateGrant | RetireGrant | DescribeKey | GenerateDataKeyPair | GenerateDataKeyPairWithoutPlaintext)

// signingOps are the operations an asymmetric SIGN_VERIFY key supports.
const signingOps = Set(Sign | Verify | GetPublicKey | CreateGrant | RetireGrant | DescribeKey)

// rsaEncryptionOps are the operations an RSA ENCRYPT_DECRYPT key supports.
const rsaEncryptionOps = Set(Encrypt | Decrypt | ReEncryptFrom | ReEncryptTo | GetPublicKey | CreateGrant | RetireGrant | DescribeKey)

// agreementOps are the operations a KEY_AGREEMENT key supports.
const agreementOps = Set(DeriveSharedSecret | GetPublicKey | CreateGrant | RetireGrant | DescribeKey)

// macOps are the operations an HMAC key supports.
const macOps = Set(GenerateMac | VerifyMac | CreateGrant | RetireGrant | DescribeKey)

// ValidForKey checks that every operation of s is supported by a key of
// this spec and usage, and names the first that is not in an
// [*OperationError].
func ValidForKey(s Set, keySpec, keyUsage string) error {
	var allowed Set
	switch {
	case keySpec == "SYMMETRIC_DEFAULT" && keyUsage == "ENCRYPT_DECRYPT":
		allowed = symmetricOps
	case keyUsage == "ENCRYPT_DECRYPT" && strings.HasPrefix(keySpec, "RSA_"):
		allowed = rsaEncryptionOps
	case keyUsage == "KEY_AGREEMENT":
		allowed = agreementOps
	case keyUsage == "SIGN_VERIFY":
		allowed = signingOps
	case keyUsage == "GENERATE_VERIFY_MAC":
		allowed = macOps
	default:
		return fmt.Errorf("grants on %s keys are not supported", keySpec)
	}
	if bad := s &^ allowed; bad != 0 {
		return &OperationError{Op: Operation(1 << bits.TrailingZeros32(uint32(bad))), KeySpec: keySpec, KeyUsage: keyUsage}
	}
	return nil
}

// OperationError is [ValidForKey]'s error for an operation the key cannot
// grant. Its text is the message CreateGrant's caller receives.
type OperationError struct {
	Op                Operation // the first operation the key does not support
	KeySpec, KeyUsage string
}

func (e *OperationError) Error() string {
	return fmt.Sprintf("Grant operation %s is not valid for a %s key with key usage %s", e.Op, e.KeySpec, e.KeyUsage)
}

// contextOps are the operations that take an encryption context, the
// only ones constraints apply to.
const contextOps = Set(Decrypt | Encrypt | GenerateDataKey | GenerateDataKeyWithoutPlaintext | ReEncryptFrom |
	ReEncryptTo | GenerateDataKeyPair | GenerateDataKeyPairWithoutPlaintext)

// TakesContext reports whether op takes an encryption context.
func TakesContext(op Operation) bool { return contextOps.Has(op) }
