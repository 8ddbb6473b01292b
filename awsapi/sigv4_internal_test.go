package awsapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The AWS Signature Version 4 test suite's credentials and time.
const (
	suiteKeyID  = "AKIDEXAMPLE"
	suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	suiteDate   = "20150830T123600Z"
)

// sigV4Vectors are requests in testdata/sigv4/<name>.req. The canonical
// request, string to sign and Authorization header are golden files next
// to them; awsSignature, where set, is the signature the AWS test suite
// publishes for the request.
var sigV4Vectors = []struct {
	name          string
	region        string
	service       string
	signedHeaders string
	awsSignature  string
}{
	{"get-vanilla", "us-east-1", "service", "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
	{"post-vanilla", "us-east-1", "service", "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
	{"get-vanilla-query-order-key-case", "us-east-1", "service", "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	{"post-x-www-form-urlencoded", "us-east-1", "service", "content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
	{"get-header-value-trim", "us-east-1", "service", "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
	{"kms-encrypt", "us-east-1", "kms", "content-type;host;x-amz-date;x-amz-target", ""},
}

func readVector(t *testing.T, name string) (*http.Request, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "sigv4", name+".req"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r, body
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "sigv4", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestSigV4Vectors(t *testing.T) {
	for _, v := range sigV4Vectors {
		t.Run(v.name, func(t *testing.T) {
			r, body := readVector(t, v.name)
			headers := strings.Split(v.signedHeaders, ";")
			creq := canonicalRequest(r, headers, v.signedHeaders, sha256Hex(body))
			scope := suiteDate[:8] + "/" + v.region + "/" + v.service + "/aws4_request"
			sts := stringToSign(suiteDate, scope, creq)
			sig := hex.EncodeToString(signature(deriveSigningKey([]byte(suiteSecret), suiteDate[:8], v.region, v.service), sts))
			authz := sigAlgorithm + " Credential=" + suiteKeyID + "/" + scope + ", SignedHeaders=" + v.signedHeaders + ", Signature=" + sig
			golden(t, v.name+".creq", creq)
			golden(t, v.name+".sts", sts)
			golden(t, v.name+".authz", authz)
			if v.awsSignature != "" && sig != v.awsSignature {
				t.Errorf("signature %s, the AWS test suite says %s", sig, v.awsSignature)
			}

			// aws-sdk-go-v2's signer, an independent implementation, agrees
			// on the headers it chooses to sign.
			sr, _ := readVector(t, v.name)
			sr.URL.Scheme, sr.URL.Host = "https", sr.Host
			at, _ := time.Parse(amzDateLayout, suiteDate)
			err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: suiteKeyID, SecretAccessKey: suiteSecret},
				sr, sha256Hex(body), v.service, v.region, at)
			if err != nil {
				t.Fatal(err)
			}
			a, e := parseAuthorization(sr.Header.Get("Authorization"))
			if e != nil {
				t.Fatalf("parsing the SDK's Authorization: %v", e)
			}
			ours := signature(deriveSigningKey([]byte(suiteSecret), a.date, a.region, a.service),
				stringToSign(suiteDate, a.scope(), canonicalRequest(sr, a.headers, a.signedHeaders, sha256Hex(body))))
			if hex.EncodeToString(ours) != a.signature {
				t.Errorf("SDK signed %s (%s), we compute %x", a.signature, a.signedHeaders, ours)
			}
		})
	}
}

type oneKey struct{}

func (oneKey) Lookup(_ context.Context, id string) ([]byte, identity.Principal, error) {
	if id != suiteKeyID {
		return nil, identity.Principal{}, ErrUnknownAccessKey
	}
	return []byte(suiteSecret), identity.RootPrincipal("111122223333"), nil
}

// The verifier accepts the golden KMS request at its time, and caches the
// signing key per access key, date and region.
func TestVerifierAcceptsGoldenRequest(t *testing.T) {
	r, body := readVector(t, "kms-encrypt")
	authz, err := os.ReadFile(filepath.Join("testdata", "sigv4", "kms-encrypt.authz"))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", string(authz))
	at, _ := time.Parse(amzDateLayout, suiteDate)
	v := newVerifier(oneKey{}, "us-east-1", func() time.Time { return at.Add(10 * time.Minute) }, nil)
	for range 2 {
		p, e := v.verify(r, body)
		if e != nil {
			t.Fatalf("verify: %v", e)
		}
		if p.ARN != "arn:aws:iam::111122223333:root" {
			t.Fatalf("principal %v", p)
		}
	}
	if len(v.keys) != 1 {
		t.Fatalf("%d cached keys, want 1", len(v.keys))
	}
	// A changed secret for the same key is not served from the cache.
	if got, want := v.signingKey(suiteKeyID, []byte("rotated"), "20150830"), deriveSigningKey([]byte("rotated"), "20150830", "us-east-1", "kms"); !bytes.Equal(got, want) {
		t.Fatal("stale signing key after the secret changed")
	}
	if _, e := v.verify(r, append(body, ' ')); e == nil || e.typ != wire.InvalidSignature {
		t.Fatalf("verify with a changed body: %v", e)
	}
}

func TestCanonicalPieces(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a  b   c", "a b c"},
		{"  x ", "x"},
		{"\tx\t", "x"},
		{"", ""},
	} {
		if got := collapseSpaces(tt.in); got != tt.want {
			t.Errorf("collapseSpaces(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"b=2&a=1&a=0", "a=0&a=1&b=2"},
		{"k=a%20b&x=%2F", "k=a%20b&x=%2F"},
		{"flag", "flag="},
		{"k=a+b", "k=a%20b"},
	} {
		if got := canonicalQuery(tt.in); got != tt.want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := uriEncode("/a b/é~", false); got != "/a%20b/%C3%A9~" {
		t.Errorf("uriEncode: %q", got)
	}
}

// The signature comparison must be constant time: sigv4.go compares with
// hmac.Equal and never with bytes.Equal, == or strings.EqualFold on the
// signature.
func TestSignatureCompareIsConstantTime(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "sigv4.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var hmacEqual int
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok {
					switch x.Name + "." + sel.Sel.Name {
					case "hmac.Equal":
						hmacEqual++
					case "bytes.Equal", "bytes.Compare", "strings.EqualFold", "strings.Compare":
						for _, arg := range n.Args {
							if mentionsSignature(arg) {
								t.Errorf("signature compared with %s.%s", x.Name, sel.Sel.Name)
							}
						}
					}
				}
			}
		case *ast.BinaryExpr:
			if (n.Op == token.EQL || n.Op == token.NEQ) && (mentionsSignature(n.X) || mentionsSignature(n.Y)) {
				t.Errorf("signature compared with %s", n.Op)
			}
		}
		return true
	})
	if hmacEqual != 1 {
		t.Fatalf("hmac.Equal used %d times in sigv4.go, want 1", hmacEqual)
	}
}

func mentionsSignature(e ast.Expr) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Ident:
			found = found || n.Name == "got" || n.Name == "want"
		case *ast.SelectorExpr:
			found = found || n.Sel.Name == "signature"
		}
		return !found
	})
	return found
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	f.Add("AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=")
	f.Add("AWS4-HMAC-SHA256 ,,,=,=")
	f.Add("")
	at, _ := time.Parse(amzDateLayout, suiteDate)
	v := newVerifier(oneKey{}, "us-east-1", func() time.Time { return at }, nil)
	f.Fuzz(func(t *testing.T, h string) {
		a, e := parseAuthorization(h)
		if (a == nil) == (e == nil) {
			t.Fatalf("parseAuthorization(%q) = %v, %v", h, a, e)
		}
		if e != nil && (e.status != 400 || e.typ != wire.IncompleteSignature) {
			t.Fatalf("parseAuthorization(%q): %v", h, e)
		}
		r, _ := http.NewRequest(http.MethodPost, "https://kms.us-east-1.amazonaws.com/", nil)
		r.Header.Set("Authorization", h)
		r.Header.Set("X-Amz-Date", suiteDate)
		if _, e := v.verify(r, nil); e == nil || e.status != 400 {
			t.Fatalf("verify with Authorization %q: %v", h, e)
		}
	})
}
