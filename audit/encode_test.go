package audit

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/identity"
)

// appendLineJSON is appendLine as it was written with json.Marshal: the
// reference the hand-written encoder must match byte for byte (the chain
// hashes these bytes), and the baseline of BenchmarkAppendLine.
func appendLineJSON(b []byte, r *Record) ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return b, fmt.Errorf("encode audit record: %w", err)
	}
	sum := sha256.Sum256(body)
	r.Hash = hex.EncodeToString(sum[:])
	b = append(b, body[:len(body)-1]...)
	b = append(b, hashPrefix...)
	b = append(b, r.Hash...)
	return append(b, `"}`...), nil
}

// checkSameLine encodes r with appendLine and appendLineJSON and fails
// unless both give the same bytes and hash, or both fail; a line they
// agree on must parse back with ParseLine.
func checkSameLine(t *testing.T, r *Record) {
	t.Helper()
	r1, r2 := *r, *r
	prefix := []byte("earlier line\n")
	got, gotErr := appendLine(bytes.Clone(prefix), &r1)
	want, wantErr := appendLineJSON(bytes.Clone(prefix), &r2)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("appendLine error %v, json.Marshal error %v, for %#v", gotErr, wantErr, r)
	}
	if gotErr != nil {
		if !bytes.Equal(got, prefix) {
			t.Fatalf("appendLine failed (%v) but left %q in the buffer", gotErr, got[len(prefix):])
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendLine and json.Marshal differ for %#v:\ngot  %s\nwant %s", r, got, want)
	}
	if r1.Hash != r2.Hash {
		t.Fatalf("hash %s, json.Marshal's %s", r1.Hash, r2.Hash)
	}
	if r.Seq != 0 && len(r.PrevHash) == hashLen && isLowerHex([]byte(r.PrevHash)) {
		if _, err := ParseLine(got[len(prefix):]); err != nil {
			t.Fatalf("ParseLine of %s: %v", got[len(prefix):], err)
		}
	}
}

// fullRecord has every member set.
func fullRecord() Record {
	return Record{
		EventVersion: EventVersion,
		UserIdentity: UserIdentity{Type: "IAMUser", PrincipalID: "AIDA", ARN: "arn:aws:iam::111122223333:user/alice",
			AccountID: "111122223333", AccessKeyID: "AKIAEXAMPLE", UserName: "alice", InvokedBy: "kms.amazonaws.com"},
		EventTime: "2026-11-27T12:00:00Z", EventSource: SourceKMS, EventName: "Encrypt", AWSRegion: "us-east-1",
		SourceIPAddress: "127.0.0.1", UserAgent: "aws-sdk-go-v2/1.48.0 os/linux", ErrorCode: "NotFoundException",
		ErrorMessage:      "Key 'x' does not exist",
		RequestParameters: json.RawMessage(`{"keyId":"k","encryptionContext":{"a":"b"}}`),
		ResponseElements:  json.RawMessage(`{"keyId":"arn:aws:kms:us-east-1:111122223333:key/k"}`),
		RequestID:         "76553f5d-0000-4000-8000-000000000000", EventID: "f05dd22c-0000-4000-8000-000000000000",
		ReadOnly: true,
		Resources: []Resource{{AccountID: "111122223333", Type: "AWS::KMS::Key", ARN: "arn:aws:kms:us-east-1:111122223333:key/k"},
			{Type: "AWS::KMS::Key", ARN: "arn:aws:kms:us-east-1:444455556666:key/j"}},
		EventType: "AwsApiCall", ManagementEvent: true, RecipientAccount: "111122223333", EventCategory: "Management",
		Trent: Trent{ServedBy: "node1", Protocol: "connect", AppliedIndex: 18446744073709551615, Consistency: "bounded",
			StalenessBound: "312µs", SimulatedPropagation: "1s"},
		Seq: 17, PrevHash: GenesisHash, Hash: "set by appendLine, never written",
	}
}

// TestFullRecordSetsEveryMember keeps fullRecord complete: a member added
// to Record (or to the types it holds) must be set there, so that the
// tests comparing the encoders see it written (an omitempty member left
// empty would pass them unnoticed while appendRecord leaves it out).
func TestFullRecordSetsEveryMember(t *testing.T) {
	var check func(path string, v reflect.Value)
	check = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				check(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		case reflect.Slice:
			if v.Len() == 0 {
				t.Errorf("%s is empty in fullRecord", path)
			}
			for i := range v.Len() {
				if v.Index(i).Kind() == reflect.Struct {
					check(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
					break // the first element sets every member; later ones may leave omitempty members out
				}
			}
		default:
			if v.IsZero() {
				t.Errorf("%s is zero in fullRecord", path)
			}
		}
	}
	r := fullRecord()
	check("Record", reflect.ValueOf(r))
}

// escapeCases are strings of every escaping class of encoding/json.
var escapeCases = []string{
	"", "plain", `quote " backslash \ slash /`, "html < > & <script>&amp;", "named \b \f \n \r \t",
	"other controls \x00 \x01 \x0b \x1f", "del \x7f", "utf-8 é ß 🗝 中文", "separators \u2028 \u2029 \u2027 \u202a",
	"invalid \xff \xfe \xc3 \xe2\x80 \xed\xa0\x80 end", "truncated \xe2\x80", "\xe2\x80\xa8", "surrogate-free \uffff \ufffd",
	strings.Repeat("long ", 100) + "<&>",
}

func TestAppendLineMatchesJSON(t *testing.T) {
	full := fullRecord()
	type mutation struct {
		name string
		f    func(*Record)
	}
	cases := []mutation{
		{"full", func(*Record) {}},
		{"zero", func(r *Record) { *r = Record{} }},
		{"zero with chain", func(r *Record) { *r = Record{Seq: 1, PrevHash: GenesisHash} }},
		{"no principalId", func(r *Record) { r.UserIdentity.PrincipalID = "" }},
		{"no arn", func(r *Record) { r.UserIdentity.ARN = "" }},
		{"no accountId", func(r *Record) { r.UserIdentity.AccountID = "" }},
		{"no accessKeyId", func(r *Record) { r.UserIdentity.AccessKeyID = "" }},
		{"no userName", func(r *Record) { r.UserIdentity.UserName = "" }},
		{"no invokedBy", func(r *Record) { r.UserIdentity.InvokedBy = "" }},
		{"identity type only", func(r *Record) { r.UserIdentity = UserIdentity{Type: "Unknown"} }},
		{"no errorCode", func(r *Record) { r.ErrorCode = "" }},
		{"no errorMessage", func(r *Record) { r.ErrorMessage = "" }},
		{"nil requestParameters", func(r *Record) { r.RequestParameters = nil }},
		{"nil responseElements", func(r *Record) { r.ResponseElements = nil }},
		{"empty requestParameters", func(r *Record) { r.RequestParameters = json.RawMessage{} }},
		{"empty responseElements", func(r *Record) { r.ResponseElements = json.RawMessage{} }},
		{"null requestParameters", func(r *Record) { r.RequestParameters = json.RawMessage("null") }},
		{"spaced raw", func(r *Record) { r.RequestParameters = json.RawMessage(" {\n\t\"a\" : [ 1 , 2 ] ,\r\"b\":\"x y\" } ") }},
		{"html in raw", func(r *Record) { r.ResponseElements = json.RawMessage(`{"a<>&":"<&>\u2028` + "\u2028\u2029" + `"}`) }},
		{"invalid raw", func(r *Record) { r.RequestParameters = json.RawMessage(`{"a":}`) }},
		{"not readOnly", func(r *Record) { r.ReadOnly = false }},
		{"not managementEvent", func(r *Record) { r.ManagementEvent = false }},
		{"nil resources", func(r *Record) { r.Resources = nil }},
		{"empty resources", func(r *Record) { r.Resources = []Resource{} }},
		{"zero resource", func(r *Record) { r.Resources = []Resource{{}} }},
		{"no recipientAccountId", func(r *Record) { r.RecipientAccount = "" }},
		{"no protocol", func(r *Record) { r.Trent.Protocol = "" }},
		{"no appliedIndex", func(r *Record) { r.Trent.AppliedIndex = 0 }},
		{"appliedIndex 1", func(r *Record) { r.Trent.AppliedIndex = 1 }},
		{"no consistency", func(r *Record) { r.Trent.Consistency = "" }},
		{"no stalenessBound", func(r *Record) { r.Trent.StalenessBound = "" }},
		{"no simulatedPropagation", func(r *Record) { r.Trent.SimulatedPropagation = "" }},
		{"trent servedBy only", func(r *Record) { r.Trent = Trent{ServedBy: "n"} }},
		{"seq max", func(r *Record) { r.Seq = 18446744073709551615 }},
	}
	for i, s := range escapeCases {
		cases = append(cases, mutation{fmt.Sprintf("escapes %d", i), func(r *Record) { setStrings(r, func(int) string { return s }) }})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := full
			r.Resources = append([]Resource(nil), full.Resources...)
			tc.f(&r)
			checkSameLine(t, &r)
		})
	}
}

// stringFields are the string members of a record, as pointers.
func stringFields(r *Record) []*string {
	ps := []*string{&r.EventVersion, &r.UserIdentity.Type, &r.UserIdentity.PrincipalID, &r.UserIdentity.ARN,
		&r.UserIdentity.AccountID, &r.UserIdentity.AccessKeyID, &r.UserIdentity.UserName, &r.UserIdentity.InvokedBy,
		&r.EventTime, &r.EventSource, &r.EventName, &r.AWSRegion, &r.SourceIPAddress, &r.UserAgent, &r.ErrorCode,
		&r.ErrorMessage, &r.RequestID, &r.EventID, &r.EventType, &r.RecipientAccount, &r.EventCategory,
		&r.Trent.ServedBy, &r.Trent.Protocol, &r.Trent.Consistency, &r.Trent.StalenessBound,
		&r.Trent.SimulatedPropagation, &r.PrevHash, &r.Hash}
	for i := range r.Resources {
		ps = append(ps, &r.Resources[i].AccountID, &r.Resources[i].Type, &r.Resources[i].ARN)
	}
	return ps
}

// setStrings sets the i-th string member to f(i).
func setStrings(r *Record, f func(i int) string) {
	for i, p := range stringFields(r) {
		*p = f(i)
	}
}

// randomString draws a short string from pieces that exercise every
// escaping class, and random bytes (often invalid UTF-8).
func randomString(rng *mrand.Rand) string {
	if rng.IntN(4) == 0 {
		return ""
	}
	pieces := []string{"a", "Z9", " ", `"`, `\`, "/", "<", ">", "&", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f",
		"\x7f", "é", "🗝", "\u2028", "\u2029", "\ufffd", "\xff", "\xe2", "\xe2\x80", "\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80"}
	var sb strings.Builder
	for range rng.IntN(12) {
		if rng.IntN(5) == 0 {
			sb.WriteByte(byte(rng.IntN(256)))
			continue
		}
		sb.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return sb.String()
}

// randomRaw draws a RawMessage: nil, empty, one made by params from a
// message with random strings, or a random JSON text with whitespace
// between its tokens, sometimes with one token inserted that may make it
// invalid.
func randomRaw(rng *mrand.Rand) json.RawMessage {
	switch rng.IntN(8) {
	case 0:
		return nil
	case 1:
		return json.RawMessage{}
	case 2, 3:
		ec := map[string]string{}
		for range rng.IntN(3) {
			ec[randomString(rng)] = randomString(rng)
		}
		_, raw := appendParams(nil, &kmsv1.EncryptRequest{KeyId: randomString(rng), EncryptionContext: ec}, RequestFields)
		return raw
	}
	b := randomJSON(nil, rng, 0)
	if rng.IntN(3) == 0 {
		toks := []string{"{", "}", "[", "]", ",", ":", `"k"`, "\\", "01", "-", "nul", "x", "\x00", "\x80"}
		at := rng.IntN(len(b) + 1)
		b = append(b[:at:at], append([]byte(toks[rng.IntN(len(toks))]), b[at:]...)...)
	}
	return b
}

// randomJSON appends a random valid JSON value, whitespace around it.
func randomJSON(b []byte, rng *mrand.Rand, depth int) []byte {
	space := func(b []byte) []byte {
		for range rng.IntN(3) {
			b = append(b, " \t\n\r"[rng.IntN(4)])
		}
		return b
	}
	b = space(b)
	n := 7
	if depth > 3 {
		n = 5
	}
	switch rng.IntN(n) {
	case 0:
		b = append(b, []string{"0", "-1", "12.5", "-0.0e+7", "3E-2", "true", "false", "null"}[rng.IntN(8)]...)
	case 1, 2, 3:
		b = append(b, '"')
		for range rng.IntN(6) {
			b = append(b, []string{"a", " ", "<", ">", "&", "\u2028", "\u2029", "\xe2\x80", "\xff", "é",
				`\"`, `\\`, `\/`, `\n`, `\u003C`, `\uD834`}[rng.IntN(16)]...)
		}
		b = append(b, '"')
	case 4:
		b = append(b, `"k"`...)
	case 5:
		b = append(b, '[')
		for i := range rng.IntN(4) {
			if i > 0 {
				b = space(append(b, ','))
			}
			b = randomJSON(b, rng, depth+1)
		}
		b = append(space(b), ']')
	case 6:
		b = append(b, '{')
		for i := range rng.IntN(4) {
			if i > 0 {
				b = append(b, ',')
			}
			b = space(randomJSON(space(b), rng, 5)) // a key: a string or a scalar (then invalid)
			b = randomJSON(append(b, ':'), rng, depth+1)
		}
		b = append(space(b), '}')
	}
	return space(b)
}

// TestAppendLineMatchesJSONRandom compares the encoders on random records:
// every string member, both raw members, the resources and the numbers
// drawn independently.
func TestAppendLineMatchesJSONRandom(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	valid := 0
	for range 3000 {
		r := Record{ReadOnly: rng.IntN(2) == 0, ManagementEvent: rng.IntN(2) == 0, Seq: rng.Uint64() >> rng.IntN(64)}
		if rng.IntN(3) == 0 {
			r.Trent.AppliedIndex = rng.Uint64() >> rng.IntN(64)
		}
		for range rng.IntN(3) {
			r.Resources = append(r.Resources, Resource{})
		}
		setStrings(&r, func(int) string { return randomString(rng) })
		r.RequestParameters, r.ResponseElements = randomRaw(rng), randomRaw(rng)
		if json.Valid(r.RequestParameters) && json.Valid(r.ResponseElements) {
			valid++
		}
		checkSameLine(t, &r)
	}
	if valid < 300 {
		t.Fatalf("only %d of 3000 random records had valid raw members", valid)
	}
}

// TestAppendRawMatchesJSON compares appendRaw with json.Marshal of a
// json.RawMessage: null for nil, the compaction, its escapes and its
// refusals.
func TestAppendRawMatchesJSON(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, raw := range []string{
		"", " ", "null", "true", "false", "0", "-0", "12", "-1.25e-10", "1E+2", "1e5", "01", "-", "1.", ".5", "1e", "1e+",
		"+1", "tru", "truex", "nul", "nulll", `""`, `"a"`, `"\"\\\/\b\f\n\r\t\u00e9\uD834\uDD1E"`, `"\u12"`, `"\u12G4"`,
		`"\x"`, `"\`, `"abc`, "\"tab\tinside\"", "\"\x00\"", "\"\x7f\"", "\"\xff\xfe\"", "\"\u2028\u2029\"", "\"\xe2\x80\"",
		`"<script>&amp;</script>"`, "[]", "{}", "[ ]", "{ }", " [ 1 , 2 , [ 3 ] ] ", "[1,]", "[,1]", "[1 2]", `{"a":1,}`,
		`{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":[{"b":{}}],"c":null}`, "\n{\"a\"\r:\t\"<>\"}\n", "{} {}", "[] x",
		"[1]]", "{\"a\":\"b\"}}", "\"\xe2\x80\xa8\xe2\x80\xa9\"", deep(10000), deep(10001), "[" + deep(9999) + "," + deep(9999) + "]",
	} {
		name := raw
		if len(name) > 40 {
			name = fmt.Sprintf("%d bytes", len(raw))
		}
		t.Run(name, func(t *testing.T) {
			got, gotErr := appendRaw([]byte("x"), []byte(raw))
			want, wantErr := json.Marshal(json.RawMessage(raw))
			if (gotErr != nil) != (wantErr != nil) {
				t.Fatalf("appendRaw error %v, json.Marshal error %v", gotErr, wantErr)
			}
			if gotErr == nil && !bytes.Equal(got[1:], want) {
				t.Fatalf("appendRaw %s, json.Marshal %s", got[1:], want)
			}
		})
	}
	got, _ := appendRaw(nil, nil)
	if want, _ := json.Marshal(json.RawMessage(nil)); !bytes.Equal(got, want) || string(got) != "null" {
		t.Fatalf("nil RawMessage: appendRaw %s, json.Marshal %s", got, want)
	}
}

// TestBuiltRecordsMatchJSON compares the encoders on records build makes
// from calls of every identity kind, with and without request and
// response, error and service members.
func TestBuiltRecordsMatchJSON(t *testing.T) {
	l := &Log{opts: Options{NodeID: "node1", Region: "us-east-1", Rand: rand.Reader,
		Now: func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.FixedZone("x", 3600)) }}}
	keyID := "1234abcd-12ab-34cd-56ef-1234567890ab"
	arn := "arn:aws:kms:us-east-1:111122223333:key/" + keyID
	for _, tc := range []struct {
		name string
		c    Call
	}{
		{"root encrypt", Call{Operation: "Encrypt", Protocol: "connect", Principal: identity.RootPrincipal("111122223333"),
			SourceIP: "127.0.0.1:5555", UserAgent: "connect-go/1.0 <x&y>",
			Input: &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("secret"),
				EncryptionContext: map[string]string{"tenant": "acme", "<k>": "v&\u2028", "z": "\n"}},
			Output: &kmsv1.EncryptResponse{KeyId: arn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}}},
		{"unauthenticated failure", Call{Operation: "Decrypt", Protocol: "aws-json", AccessKeyID: "AKIA\xff",
			SourceIP: "[::1]:80", ErrorCode: "AccessDeniedException", ErrorMessage: "denied <because> & \"why\"",
			RequestID: "req-1"}},
		{"serialization", Call{Operation: "Encrypt", ErrorCode: "SerializationException", ErrorMessage: "quotes the body"}},
		{"cluster", Call{Source: SourceCluster, Operation: "Status", Protocol: "grpc", AppliedIndex: 42,
			Consistency: "linearizable", StalenessBound: "0s", SimulatedPropagation: "5ms"}},
		{"alias", Call{Operation: "Encrypt", Principal: identity.RootPrincipal("111122223333"),
			Input: &kmsv1.EncryptRequest{KeyId: "alias/x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			r, err := l.build(&c)
			if err != nil {
				t.Fatal(err)
			}
			r.Seq, r.PrevHash = 3, GenesisHash
			checkSameLine(t, r)
		})
	}
}

// FuzzAppendLineMatchesJSON compares appendLine with json.Marshal on
// records whose string members and raw members are fuzzed.
func FuzzAppendLineMatchesJSON(f *testing.F) {
	for i, s := range escapeCases {
		f.Add(s, s+"x", `{"a":"`+s+`"}`, uint64(i), true)
	}
	f.Add("", "", "", uint64(0), false)
	f.Add("\u2028", "<&>", " [ 1 , {\"k\" : null} ] ", uint64(1)<<63, false)
	f.Add("\xff", "\x00", "{\"a\":\"\xe2\x80\xa9<\"}", uint64(7), true)
	f.Fuzz(func(t *testing.T, a, b, raw string, n uint64, flag bool) {
		r := fullRecord()
		setStrings(&r, func(i int) string {
			switch i % 3 {
			case 0:
				return a
			case 1:
				return b
			}
			return a + b
		})
		r.RequestParameters = json.RawMessage(raw)
		if flag {
			r.ResponseElements = nil
			r.Resources = nil
		}
		r.Seq, r.Trent.AppliedIndex, r.ReadOnly = n, n/3, flag
		checkSameLine(t, &r)
	})
}

// BenchmarkAppendLine encodes the record of an Encrypt call (with
// response) into a reused buffer: json is the json.Marshal encoder it
// replaced, hand the hand-written one.
func BenchmarkAppendLine(b *testing.B) {
	r := benchRecord(b)
	for _, bc := range []struct {
		name string
		f    func([]byte, *Record) ([]byte, error)
	}{{"json", appendLineJSON}, {"hand", appendLine}} {
		b.Run(bc.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = bc.f(buf[:0], r); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkBuildRecord is the per-call work of Record before the log:
// building the record of an Encrypt call and encoding its line.
func BenchmarkBuildRecord(b *testing.B) {
	l, c := benchCall()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		cc := *c
		r, err := l.build(&cc)
		if err != nil {
			b.Fatal(err)
		}
		r.Seq, r.PrevHash = 1, GenesisHash
		if buf, err = appendLine(buf[:0], r); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCall is a Log that only builds records, and an Encrypt call as the
// Connect interceptor sees it (request id set by the gate).
func benchCall() (*Log, *Call) {
	l := &Log{opts: Options{NodeID: "node1", Region: "us-east-1", Rand: rand.Reader, Now: time.Now}}
	keyID := "1234abcd-12ab-34cd-56ef-1234567890ab"
	return l, &Call{Source: SourceKMS, Operation: "Encrypt", Protocol: "connect",
		Principal: identity.RootPrincipal("111122223333"), SourceIP: "127.0.0.1:5555", UserAgent: "connect-go/1.19.1 (go1.26.8)",
		RequestID: "76553f5d-0000-4000-8000-000000000000",
		Input: &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("secret"),
			EncryptionContext: map[string]string{"tenant": "acme"}},
		Output: &kmsv1.EncryptResponse{KeyId: "arn:aws:kms:us-east-1:111122223333:key/" + keyID,
			EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, AppliedIndex: 41}
}

func benchRecord(b *testing.B) *Record {
	l, c := benchCall()
	r, err := l.build(c)
	if err != nil {
		b.Fatal(err)
	}
	r.Seq, r.PrevHash = 17, GenesisHash
	return r
}

// TestEventTimeFollowsClock checks the once-per-second formatting of the
// event time against formatting every time, with a clock that moves
// within a second, across seconds, backwards and in another zone.
func TestEventTimeFollowsClock(t *testing.T) {
	base := time.Date(2026, 11, 27, 12, 0, 0, 0, time.FixedZone("x", -7*3600))
	var now time.Time
	l := &Log{opts: Options{Now: func() time.Time { return now }}}
	for _, d := range []time.Duration{0, 999 * time.Millisecond, time.Second, 1500 * time.Millisecond, -time.Nanosecond,
		-time.Second, 24 * time.Hour, -60 * 365 * 24 * time.Hour} {
		now = base.Add(d)
		if got, want := l.eventTime(), now.UTC().Format(time.RFC3339); got != want {
			t.Errorf("at %v: eventTime %s, want %s", d, got, want)
		}
	}
}

func TestARNAccount(t *testing.T) {
	for _, arn := range []string{"arn:aws:kms:us-east-1:111122223333:key/k", "arn:aws:kms:us-east-1:111122223333:key/k:x",
		"arn:aws:kms:us-east-1:111122223333", "arn:aws:kms::", "", "::::::", "a:b:c:d:e:f"} {
		want := ""
		if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
			want = parts[4]
		}
		if got := arnAccount(arn); got != want {
			t.Errorf("arnAccount(%q) = %q, want %q", arn, got, want)
		}
	}
}

// TestPlainPrefix checks the 8-bytes-at-a-time scan against a byte loop:
// every byte value at every position of strings around two words long,
// with and without a second byte to stop at after it.
func TestPlainPrefix(t *testing.T) {
	naive := func(s string) int {
		for i := range len(s) {
			if c := s[i]; c < 0x20 || c >= 0x80 || strings.IndexByte(`"\<>&`, c) >= 0 {
				return i
			}
		}
		return len(s)
	}
	for n := range 20 {
		for at := range n {
			for c := range 256 {
				for _, later := range []byte{'a', 0, '"', 0xff} {
					p := bytes.Repeat([]byte("a"), n)
					p[at] = byte(c)
					if at+1 < n {
						p[n-1] = later
					}
					want := naive(string(p))
					if got := plainPrefix(string(p)); got != want {
						t.Fatalf("plainPrefix(%q) = %d, want %d", p, got, want)
					}
					if got := plainPrefix(p); got != want {
						t.Fatalf("plainPrefix([]byte %q) = %d, want %d", p, got, want)
					}
				}
			}
		}
	}
}
