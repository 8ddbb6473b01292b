package wire

import "strings"

// ReadOnly reports whether the KMS or IAM operation op (its name, such as
// "Encrypt" or "CreateUser") changes no state: CloudTrail's readOnly. The
// trail records it, and a refusal names a read or a write by it.
func ReadOnly(op string) bool {
	for _, p := range []string{"Describe", "List", "Get"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	switch op {
	case "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
		"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom", "Sign", "Verify",
		"GenerateMac", "VerifyMac", "DeriveSharedSecret", "Explain":
		return true
	}
	return false
}
