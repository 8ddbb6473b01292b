package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/trentkms/trent/audit"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// never lists members that must not reach a record at any depth.
var never = []string{
	"Plaintext", "CiphertextBlob", "PrivateKeyPlaintext", "PrivateKeyCiphertextBlob", "PublicKey",
	"Message", "Signature", "Mac", "GrantToken", "GrantTokens", "SecretAccessKey", "PrivateKeyPem",
	"CertificatePem", "CaPem", "CertificateSigningRequest",
}

func services() []protoreflect.ServiceDescriptor {
	return []protoreflect.ServiceDescriptor{
		kmsv1.File_trent_kms_v1_kms_proto.Services().Get(0),
		iamv1.File_trent_iam_v1_iam_proto.Services().Get(0),
	}
}

func TestAllowlistsExcludeSecrets(t *testing.T) {
	for _, name := range never {
		if audit.RequestFields[name] || audit.ResponseFields[name] {
			t.Errorf("%s is allowlisted", name)
		}
	}
}

// fill sets every member of m, at every depth, to a value containing
// marker: strings, bytes, list elements, map keys stay plain ("k") but
// map values carry it.
func fill(m protoreflect.Message, marker string, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			if fd.MapKey().Kind() != protoreflect.StringKind {
				continue
			}
			mp := m.Mutable(fd).Map()
			if v, ok := scalar(fd.MapValue(), marker); ok {
				mp.Set(protoreflect.ValueOfString("k").MapKey(), v)
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			if fd.Kind() == protoreflect.MessageKind {
				if depth < 3 {
					e := l.NewElement()
					fill(e.Message(), marker, depth+1)
					l.Append(e)
				}
			} else if v, ok := scalar(fd, marker); ok {
				l.Append(v)
			}
		case fd.Kind() == protoreflect.MessageKind:
			if depth < 3 {
				fill(m.Mutable(fd).Message(), marker, depth+1)
			}
		default:
			if v, ok := scalar(fd, marker); ok {
				m.Set(fd, v)
			}
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor, marker string) (protoreflect.Value, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(marker + "-" + string(fd.Name())), true
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(marker + "-" + string(fd.Name()))), true
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true), true
	}
	return protoreflect.Value{}, false
}

// TestRecordedFieldsPerOperation fills every member of every request and
// response of the KMS and IAM services, records the call and checks that
// no member of the never list, and no bytes member, appears; the members
// that do appear are listed per operation in a golden file, so any change
// to what the trail logs is reviewed.
func TestRecordedFieldsPerOperation(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	var listing strings.Builder
	for _, sd := range services() {
		source := audit.SourceKMS
		if strings.Contains(string(sd.FullName()), "iam") {
			source = audit.SourceIAM
		}
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			in := dynamicpb.NewMessage(md.Input())
			out := dynamicpb.NewMessage(md.Output())
			fill(in, "MARK", 0)
			fill(out, "MARK", 0)
			c := &audit.Call{Source: source, Operation: string(md.Name()), Principal: root(), Input: in, Output: out}
			if err := l.Record(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			_, recs := readAll(t, dir)
			r := recs[len(recs)-1]
			fmt.Fprintf(&listing, "%s %s\n  request:  %s\n  response: %s\n", sd.Name(), md.Name(),
				markers(r.RequestParameters), markers(r.ResponseElements))
			for _, raw := range [][]byte{r.RequestParameters, r.ResponseElements} {
				for _, name := range never {
					if bytes.Contains(raw, []byte("MARK-"+snake(name)+`"`)) {
						t.Errorf("%s: %s recorded: %s", md.Name(), name, raw)
					}
				}
			}
		}
	}
	l.Close()
	// No bytes member is recorded whatever its name.
	files, _ := audit.Files(dir)
	all, _ := os.ReadFile(files[0])
	for _, sd := range services() {
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			for _, msg := range []protoreflect.MessageDescriptor{md.Input(), md.Output()} {
				for j := range msg.Fields().Len() {
					if fd := msg.Fields().Get(j); fd.Kind() == protoreflect.BytesKind &&
						bytes.Contains(all, []byte("MARK-"+string(fd.Name())+`"`)) {
						t.Errorf("bytes member %s.%s recorded", msg.Name(), fd.Name())
					}
				}
			}
		}
	}
	golden(t, "fields.txt", []byte(listing.String()))
}

// markers lists the member names whose marker values a record carries.
func markers(raw []byte) string {
	var names []string
	for _, part := range bytes.Split(raw, []byte(`"MARK-`))[1:] {
		name, _, _ := bytes.Cut(part, []byte(`"`))
		if !slices.Contains(names, string(name)) {
			names = append(names, string(name))
		}
	}
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, " ")
}

// snake converts a JSON name to the proto field name: GrantTokens ->
// grant_tokens.
func snake(s string) string {
	var b strings.Builder
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}
