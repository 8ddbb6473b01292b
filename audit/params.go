package audit

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// RequestFields lists the request members (by their AWS JSON names) that
// a record's requestParameters may carry, at any depth. A member not listed
// is never written, so a member added to the API later stays out of the
// trail until someone decides it is safe. Following CloudTrail's KMS
// events: key ids, encryption contexts (AWS documents that they are logged
// in plaintext), algorithms, grant names, principals, operations and
// constraints, key policies, descriptions and tags. Never: Plaintext,
// CiphertextBlob, Message, Signature, Mac, PublicKey, GrantToken(s); bytes
// members are skipped whatever their name.
var RequestFields = fieldSet(
	// KMS
	"KeyId", "EncryptionContext", "EncryptionAlgorithm", "Description", "KeyUsage", "KeySpec",
	"CustomerMasterKeySpec", "Origin", "MultiRegion", "BypassPolicyLockoutSafetyCheck", "Policy", "PolicyName",
	"Tags", "TagKeys", "TagKey", "TagValue", "Limit", "Marker", "PendingWindowInDays",
	"SourceKeyId", "DestinationKeyId", "SourceEncryptionContext", "DestinationEncryptionContext",
	"SourceEncryptionAlgorithm", "DestinationEncryptionAlgorithm", "NumberOfBytes", "KeyPairSpec",
	"MacAlgorithm", "SigningAlgorithm", "MessageType", "GranteePrincipal", "RetiringPrincipal",
	"Operations", "Constraints", "EncryptionContextSubset", "EncryptionContextEquals", "Name", "GrantId",
	"AliasName", "TargetKeyId", "RotationPeriodInDays", "DryRun", "IncludeKeyMaterial", "CustomKeyStoreId",
	"KeyAgreementAlgorithm",
	// IAM (CloudTrail logs policy documents as it does key policies)
	"UserName", "Path", "PathPrefix", "MaxItems", "AccessKeyId", "ValiditySeconds", "RoleName",
	"AssumeRolePolicyDocument", "PolicyDocument", "SerialNumber", "Principal", "Action",
	// ClusterService (proto3 JSON names). Never: token, csr, hsmIdentity,
	// command.
	"nodeId", "raftAddr", "apiAddr", "ttlSeconds",
)

// ResponseFields lists the response members a record's responseElements
// may carry, at any depth: the ids a call created or acted on and the key
// metadata CloudTrail logs for key management calls. Never: Plaintext,
// CiphertextBlob, GrantToken, SecretAccessKey, PrivateKeyPem; lists of
// keys, grants or users are not logged either.
var ResponseFields = fieldSet(
	"KeyId", "GrantId", "KeyMetadata", "AWSAccountId", "Arn", "CreationDate", "Enabled", "Description",
	"KeyUsage", "KeyState", "DeletionDate", "ValidTo", "Origin", "KeyManager", "CustomerMasterKeySpec",
	"KeySpec", "EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms", "KeyAgreementAlgorithms",
	"MultiRegion", "PendingDeletionWindowInDays", "CurrentKeyMaterialId", "PendingWindowInDays",
	"EncryptionAlgorithm", "SourceKeyId", "KeyMaterialId", "SourceKeyMaterialId", "DestinationKeyMaterialId",
	"KeyPairSpec", "SigningAlgorithm", "MacAlgorithm", "SignatureValid", "MacValid", "KeyAgreementAlgorithm", "KeyOrigin",
	// IAM
	"User", "UserName", "UserId", "Path", "CreateDate", "AccessKey", "AccessKeyId", "Status", "Principal",
	"Role", "RoleName", "RoleId", "SerialNumber", "RevokeDate", "Decision", "Resource",
	// ClusterService. Never: token, nodeCertificate, caCertificate,
	// domainToken.
	"clusterId", "expiresAt",
)

func fieldSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// appendMessage appends m's allowed, populated members as a JSON object
// with camelCase names (CloudTrail's spelling: KeyId becomes keyId), in
// field-number order; map entries are sorted by key. It appends "null" if
// nothing is allowed.
func appendMessage(b []byte, m protoreflect.Message, allow map[string]bool) []byte {
	start := len(b)
	b = append(b, '{')
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !allow[fd.JSONName()] || fd.Kind() == protoreflect.BytesKind || !m.Has(fd) {
			continue
		}
		if fd.IsMap() && fd.MapValue().Kind() == protoreflect.BytesKind {
			continue
		}
		if len(b) > start+1 {
			b = append(b, ',')
		}
		n := len(b)
		b = appendString(b, fd.JSONName())
		lowerFirst(b[n+1:])
		b = append(b, ':')
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			b = append(b, '[')
			for j := range l.Len() {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendValue(b, fd, l.Get(j), allow)
			}
			b = append(b, ']')
		case fd.IsMap():
			b = appendMap(b, fd, v.Map(), allow)
		default:
			b = appendValue(b, fd, v, allow)
		}
	}
	if len(b) == start+1 {
		return append(b[:start], "null"...)
	}
	return append(b, '}')
}

// appendValue appends one scalar or message value of field fd.
func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value, allow map[string]bool) []byte {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message(), allow)
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name()))
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	return append(b, "null"...)
}

// mapEntry is one entry of a map member, by its key's text.
type mapEntry struct {
	key string
	val protoreflect.Value
}

// appendMap appends mp as a JSON object sorted by key.
func appendMap(b []byte, fd protoreflect.FieldDescriptor, mp protoreflect.Map, allow map[string]bool) []byte {
	entries := make([]mapEntry, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		entries = append(entries, mapEntry{k.String(), v})
		return true
	})
	slices.SortFunc(entries, func(x, y mapEntry) int { return strings.Compare(x.key, y.key) })
	b = append(b, '{')
	for j, e := range entries {
		if j > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e.key)
		b = append(b, ':')
		b = appendValue(b, fd.MapValue(), e.val, allow)
	}
	return append(b, '}')
}

// lowerFirst lowers the leading capitals of a member name in place, as
// CloudTrail spells it: KeyId becomes keyId, AWSAccountId awsAccountId
// (all but the last of a run of capitals followed by more of the name).
// name may be followed by other bytes that are not capitals (the closing
// quote of the JSON string it was written as).
func lowerFirst(name []byte) {
	if len(name) == 0 || name[0] < 'A' || name[0] > 'Z' {
		return
	}
	i := 0
	for i+1 < len(name) && name[i+1] >= 'A' && name[i+1] <= 'Z' {
		i++
	}
	if i == 0 {
		i = 1
	}
	for j := range i {
		name[j] += 'a' - 'A'
	}
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
