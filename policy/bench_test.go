package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/policy"
)

func BenchmarkEvaluate(b *testing.B) {
	def := mustParse(b, policy.DefaultKeyPolicy(acct), policy.KeyPolicy)
	ident := []*policy.Policy{mustParse(b, allowAll, policy.IdentityPolicy)}
	big := mustParse(b, thirtyStatements(), policy.KeyPolicy)

	root := policy.NewRequest(principal(b, rootARN), "kms:Decrypt", keyARN, acct)
	user := policy.NewRequest(principal(b, bobARN), "kms:Decrypt", keyARN, acct)
	rich := policy.NewRequest(principal(b, bobARN), "kms:Decrypt", keyARN, acct)
	rich.SetEncryptionContext(map[string]string{"Department": "IT", "Project": "Alpha"})
	rich.SetTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	rich.Set(policy.CondSourceIP, "192.0.2.7")
	rich.SetSecureTransport(true)
	rich.SetKey(policy.KeyAttributes{KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS"})

	for _, bc := range []struct {
		name  string
		req   *policy.Request
		key   *policy.Policy
		ident []*policy.Policy
		want  bool
	}{
		{"default_policy/root", root, def, nil, true},
		{"default_policy/user_with_identity_policy", user, def, ident, true},
		{"30_statements_with_conditions", rich, big, ident, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if d := policy.Evaluate(bc.req, bc.key, bc.ident); d.Allowed != bc.want {
				b.Fatalf("Evaluate = %s", d.Explain())
			}
			b.ReportAllocs()
			for b.Loop() {
				policy.Evaluate(bc.req, bc.key, bc.ident)
			}
		})
	}
}

// thirtyStatements is a key policy of 30 statements with conditions, where
// the statement that allows the benchmark's request comes last and every
// statement before it must be evaluated.
func thirtyStatements() string {
	var stmts []string
	for i := 0; i < 29; i++ {
		var cond string
		switch i % 5 {
		case 0:
			cond = `{"StringEquals":{"kms:EncryptionContext:Department":"Dept` + fmt.Sprint(i) + `"},"Bool":{"aws:SecureTransport":"true"}}`
		case 1:
			cond = `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Department","Project"]},"StringLike":{"kms:EncryptionContext:Project":"Beta-*"}}`
		case 2:
			cond = `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","198.51.100.0/24"]}}`
		case 3:
			cond = `{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`
		default:
			cond = `{"StringEquals":{"kms:KeySpec":"RSA_2048","kms:CallerAccount":"111122223333"}}`
		}
		principal := `{"AWS":"arn:aws:iam::111122223333:role/Role` + fmt.Sprint(i) + `"}`
		if i%3 == 0 {
			principal = `"*"`
		}
		stmts = append(stmts, `{"Sid":"S`+fmt.Sprint(i)+`","Effect":"Allow","Principal":`+principal+`,"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*"],"Resource":"*","Condition":`+cond+`}`)
	}
	stmts = append(stmts, `{"Sid":"Last","Effect":"Allow","Principal":{"AWS":"`+bobARN+`"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Department":"IT"},"ForAllValues:StringLike":{"kms:EncryptionContextKeys":["Dep*","Proj*"]},"IpAddress":{"aws:SourceIp":"192.0.2.0/24"},"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"},"Bool":{"aws:SecureTransport":"true"}}}`)
	return doc(stmts...)
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"default", policy.DefaultKeyPolicy(acct)},
		{"console", consolePolicy},
		{"30_statements", thirtyStatements()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.text)))
			for b.Loop() {
				if _, err := policy.Parse(bc.text, policy.KeyPolicy); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseHostile(b *testing.B) {
	text := doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:k":"` + strings.Repeat("*a", 4000) + `b"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.Parse(text, policy.KeyPolicy); err != nil {
			b.Fatal(err)
		}
	}
}
