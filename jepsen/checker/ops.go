package checker

import "strings"

// Operation names (history.Op.F) shared by the workloads and the checkers.
const (
	// Grants workload. Value is the grant's Name.
	FCreateGrant = "create-grant" // Result: the grant id
	FRevokeGrant = "revoke-grant" // Result: ResultFound or ResultNotFound
	FUseToken    = "use-token"    // grantee Encrypt with the grant's token; Result: ResultTrue/ResultFalse
	FUseNoToken  = "use"          // grantee Encrypt without a token (bounded); Result: ResultTrue/ResultFalse
	FListGrants  = "list-grants"  // Result: JoinNames of the key's grant names
	// Key state workload.
	FEnable   = "enable"
	FDisable  = "disable"
	FDescribe = "describe"        // Result: DescribeResult
	FSetDesc  = "set-description" // UpdateKeyDescription; Value: the new, unique description
	FRotate   = "rotate"          // RotateKeyOnDemand: new key material; older ciphertexts must still decrypt
	// Lifecycle workload. Kept keys rotate; doomed keys are deleted.
	FEnableRotation      = "enable-rotation"       // EnableKeyRotation of a kept key
	FDecryptKept         = "decrypt-kept"          // Value: the plaintext tag; Result: the plaintext
	FCreateDoomed        = "create-doomed"         // Result: the key id
	FEncryptDoomed       = "encrypt-doomed"        // Value: the plaintext tag; Result: base64 ciphertext
	FScheduleDeletion    = "schedule-deletion"     // ScheduleKeyDeletion, seven days
	FCancelDeletion      = "cancel-deletion"       // CancelKeyDeletion
	FDescribeDoomed      = "describe-doomed"       // Result: the KeyState, or ResultGone
	FDecryptDoomed       = "decrypt-doomed"        // Value: the plaintext tag; Result: the plaintext
	FFinalDescribeDoomed = "final-describe-doomed" // as FDescribeDoomed, on every node at the end
	FFinalDecryptDoomed  = "final-decrypt-doomed"  // as FDecryptDoomed, on every node at the end
	// Durability, in every workload.
	FCreateKey = "create-key" // Result: the key id
	FEncrypt   = "encrypt"    // Value: the plaintext tag; Result: base64 ciphertext
	// The final phase, after healing, against every node.
	FFinalListGrants = "final-list-grants" // Result: JoinNames of all grant names, duplicates kept
	FFinalDescribe   = "final-describe"    // Result: DescribeResult
	FFinalDecrypt    = "final-decrypt"     // Value: the plaintext tag expected; Result: the plaintext
)

// Results.
const (
	ResultTrue     = "true"
	ResultFalse    = "false"
	ResultFound    = "found"
	ResultNotFound = "notfound"
	ResultEnabled  = "enabled"
	ResultDisabled = "disabled"
	// ResultGone is a DescribeKey answered NotFoundException.
	ResultGone = "gone"
)

// InitialDescription is the description of every key the workloads create.
const InitialDescription = "jepsen"

// DescribeResult encodes what a DescribeKey saw: ResultEnabled or
// ResultDisabled, then ":" and the description.
func DescribeResult(enabled bool, desc string) string {
	if enabled {
		return ResultEnabled + ":" + desc
	}
	return ResultDisabled + ":" + desc
}

// parseDescribe decodes DescribeResult; a result without a description
// (hasDesc false) checks the key state only.
func parseDescribe(res string) (disabled bool, desc string, hasDesc bool) {
	state, desc, hasDesc := strings.Cut(res, ":")
	return state == ResultDisabled, desc, hasDesc
}

// isWrite says whether f changes state.
func isWrite(f string) bool {
	switch f {
	case FCreateGrant, FRevokeGrant, FEnable, FDisable, FSetDesc, FCreateKey, FEncrypt,
		FEnableRotation, FRotate, FCreateDoomed, FScheduleDeletion, FCancelDeletion:
		return true
	}
	return false
}
