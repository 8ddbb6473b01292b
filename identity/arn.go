package identity

import (
	"fmt"
	"strings"
)

// KMS resource types, the values of [ResourceARN.Type].
const (
	TypeKey   = "key"
	TypeAlias = "alias"
)

// Limits on KMS resource ARNs.
const (
	maxRegionLen    = 32
	maxAliasNameLen = 256 // including "alias/"
)

// KeyARN returns the ARN of a KMS key, arn:aws:kms:<region>:<account>:key/<id>.
// It does not check its arguments; see [ValidRegion], [ValidAccountID] and
// [ValidKeyID].
func KeyARN(region, account, keyID string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + keyID
}

// AliasARN returns the ARN of a KMS alias,
// arn:aws:kms:<region>:<account>:alias/<name>. aliasName includes the
// "alias/" prefix, as in the KMS API. It does not check its arguments.
func AliasARN(region, account, aliasName string) string {
	return "arn:aws:kms:" + region + ":" + account + ":" + aliasName
}

// A ResourceARN is a parsed KMS key or alias ARN.
type ResourceARN struct {
	Region  string // e.g. "us-east-1"
	Account string // 12 digits
	Type    string // TypeKey or TypeAlias
	// ID is what follows "<Type>/": the key ID, or the alias name without
	// its "alias/" prefix. See [ResourceARN.AliasName].
	ID string
}

// String returns the ARN r was parsed from.
func (r ResourceARN) String() string {
	return "arn:aws:kms:" + r.Region + ":" + r.Account + ":" + r.Type + "/" + r.ID
}

// AliasName returns the alias name as the KMS API spells it, "alias/<ID>",
// or "" when r is not an alias ARN.
func (r ResourceARN) AliasName() string {
	if r.Type != TypeAlias {
		return ""
	}
	return "alias/" + r.ID
}

// ParseKMSARN parses a KMS key or alias ARN:
//
//	arn:aws:kms:<region>:<12 digits>:key/<key ID>
//	arn:aws:kms:<region>:<12 digits>:alias/<name>
//
// A key ID is a lowercase UUID or a multi-Region "mrk-" ID (see
// [ValidKeyID]); an alias name uses letters, digits and ":/_-", at most 256
// bytes with its "alias/" prefix. Parsing is strict and accepts only the
// canonical form, so r.String() == arn. Errors are [*ARNError] values,
// matching [ErrInvalidARN].
func ParseKMSARN(arn string) (ResourceARN, error) {
	fail := func(format string, args ...any) (ResourceARN, error) {
		return ResourceARN{}, &ARNError{ARN: arn, Reason: fmt.Sprintf(format, args...), what: "KMS"}
	}
	f, reason := splitARN(arn)
	if reason != "" {
		return fail("%s", reason)
	}
	if f.service != "kms" {
		return fail("service must be \"kms\", got %q", f.service)
	}
	if reason := checkRegion(f.region); reason != "" {
		return fail("%s", reason)
	}
	if reason := checkAccount(f.account); reason != "" {
		return fail("%s", reason)
	}
	typ, id, ok := strings.Cut(f.resource, "/")
	switch {
	case f.resource == "":
		return fail("resource is empty; want key/<key ID> or alias/<name>")
	case typ != TypeKey && typ != TypeAlias:
		return fail("resource type must be \"key\" or \"alias\", got %q", typ)
	case !ok || id == "":
		return fail("%s ID is missing; want %s/<ID>", typ, typ)
	}
	if typ == TypeKey {
		if !ValidKeyID(id) {
			return fail("key ID %q is not a lowercase UUID (1234abcd-12ab-34cd-56ef-1234567890ab) or multi-Region ID (mrk- and 32 lowercase hex digits)", id)
		}
	} else {
		if reason := checkAliasName(f.resource); reason != "" {
			return fail("%s", reason)
		}
	}
	return ResourceARN{Region: f.region, Account: f.account, Type: typ, ID: id}, nil
}

// ValidRegion reports whether s can be a region in Trent ARNs: 1 to 32
// lowercase ASCII letters, digits and hyphens, starting with a letter and
// not ending with a hyphen, like "us-east-1" or "local".
func ValidRegion(s string) bool { return checkRegion(s) == "" }

func checkRegion(s string) string {
	switch {
	case s == "":
		return "region is missing"
	case len(s) > maxRegionLen:
		return fmt.Sprintf("region is %d bytes long; at most %d are allowed", len(s), maxRegionLen)
	case s[0] < 'a' || s[0] > 'z':
		return fmt.Sprintf("region %q must start with a lowercase letter", s)
	case s[len(s)-1] == '-':
		return fmt.Sprintf("region %q must not end with \"-\"", s)
	}
	if c, bad := firstInvalid(s, func(c byte) bool {
		return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
	}); bad {
		return fmt.Sprintf("region %q contains %q; allowed are lowercase letters, digits and -", s, c)
	}
	return ""
}

// ValidKeyID reports whether s is a KMS key ID: a UUID in canonical
// lowercase form (1234abcd-12ab-34cd-56ef-1234567890ab), or "mrk-" and 32
// lowercase hex digits for a multi-Region key.
func ValidKeyID(s string) bool {
	if hex, ok := strings.CutPrefix(s, "mrk-"); ok {
		return len(hex) == 32 && allLowerHex(hex)
	}
	if len(s) != 36 {
		return false
	}
	for _, j := range [...]int{8, 13, 18, 23} {
		if s[j] != '-' {
			return false
		}
	}
	return allLowerHex(s[0:8]) && allLowerHex(s[9:13]) && allLowerHex(s[14:18]) &&
		allLowerHex(s[19:23]) && allLowerHex(s[24:36])
}

func allLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// ValidAliasName reports whether s is a KMS alias name: "alias/" and at
// least one more character, all letters, digits and ":/_-", at most 256
// bytes in all. Names under "alias/aws/" are valid here although only AWS
// managed keys may use them; that is a KMS rule, not a syntax rule.
func ValidAliasName(s string) bool { return checkAliasName(s) == "" }

func checkAliasName(s string) string {
	name, ok := strings.CutPrefix(s, "alias/")
	switch {
	case !ok:
		return fmt.Sprintf("alias name %q must start with \"alias/\"", s)
	case name == "":
		return "alias name is empty after \"alias/\""
	case len(s) > maxAliasNameLen:
		return fmt.Sprintf("alias name is %d bytes long; at most %d are allowed", len(s), maxAliasNameLen)
	}
	if c, bad := firstInvalid(name, func(c byte) bool {
		return isAlnum(c) || c == ':' || c == '/' || c == '_' || c == '-'
	}); bad {
		return fmt.Sprintf("alias name %q contains %q; allowed are letters, digits and :/_-", s, c)
	}
	return ""
}
