package policy_test

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/policy"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output in testdata/eval/*.txt with what Evaluate returns")

// TestEvaluateScenarios runs the evaluation scenarios in testdata/eval.
// Each file holds scenarios of one kind; a scenario is a request, the
// policies it is evaluated against, and the decision:
//
//	# comments and blank lines between scenarios are kept
//	eval NAME
//	caller ARN               the principal
//	action kms:Decrypt
//	resource ARN             default: the test key's ARN, "*" without a key policy
//	account ID               the resource's account, default 111122223333
//	key-policy default       the default key policy of the account, or
//	key-policy               a policy document on the lines below, indented
//	  {...}                    by two spaces
//	identity-policy          an identity policy of the caller (repeatable)
//	  {...}
//	context K=V K=V          the encryption context
//	resource-tags K=V K=V    the key's tags (aws:ResourceTag/K)
//	request-tags K=V K=V     the tags the request sets (aws:RequestTag/K, aws:TagKeys)
//	set KEY V V              any condition key
//	grant operations=A,B grantee=ARN retiring=ARN constraints=T,T for-aws-resource=true
//	key-attributes spec=S usage=U origin=O aliases=A,B
//	request-alias alias/NAME
//	time RFC3339
//	source-ip ADDR
//	secure-transport true|false
//	----
//	allowed|denied REASON
//	statements ["Sid", ...]  the Sids of the statements that decided
//	explain TEXT
//
// If this test fails after a deliberate change of Evaluate, run
// `go test ./policy -run TestEvaluateScenarios -rewrite` and read the diff
// before committing it.
func TestEvaluateScenarios(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "eval", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		group := strings.TrimSuffix(filepath.Base(file), ".txt")
		out, names := runScenarios(t, group, file, string(b))
		for _, n := range names {
			if seen[n] {
				t.Errorf("%s: duplicate scenario %s", file, n)
			}
			seen[n] = true
		}
		if *rewrite && out != string(b) {
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) < 60 {
		t.Errorf("only %d evaluation scenarios", len(seen))
	}
}

// runScenarios runs the scenarios of one file and returns the file with
// every expected output replaced by the actual one, and the scenarios'
// names.
func runScenarios(t *testing.T, group, file, text string) (string, []string) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var out, names []string
	for i := 0; i < len(lines); {
		line := lines[i]
		name, ok := strings.CutPrefix(line, "eval ")
		if !ok {
			if line != "" && !strings.HasPrefix(line, "#") {
				t.Fatalf("%s:%d: want a comment, a blank line or \"eval NAME\", got %q", file, i+1, line)
			}
			out = append(out, line)
			i++
			continue
		}
		start := i
		i++
		for i < len(lines) && lines[i] != "----" {
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: scenario %s has no ----", file, start+1, name)
		}
		input := lines[start+1 : i]
		i++
		end := i
		for end < len(lines) && lines[end] != "" {
			end++
		}
		want := strings.Join(lines[i:end], "\n")
		i = end
		names = append(names, group+"/"+name)
		got := ""
		t.Run(group+"/"+name, func(t *testing.T) {
			d := evalScenario(t, file, start+2, input)
			got = describe(d)
			if e := d.Explain(); e == "" || strings.Contains(e, `"Effect"`) {
				t.Errorf("Explain() = %q: empty, or quoting policy text", e)
			}
			if got != want && !*rewrite {
				t.Errorf("%s:%d: got\n%s\nwant\n%s", file, start+1, got, want)
			}
		})
		out = append(out, lines[start:start+1+len(input)]...)
		out = append(out, "----", got)
	}
	return strings.Join(out, "\n") + "\n", names
}

// describe is a decision as a scenario's expected output.
func describe(d policy.Decision) string {
	verdict := "denied"
	if d.Allowed {
		verdict = "allowed"
	}
	sids := make([]string, len(d.Statements))
	for i, s := range d.Statements {
		sids[i] = strconv.Quote(s.Sid)
	}
	return fmt.Sprintf("%s %s\nstatements [%s]\nexplain %s", verdict, d.Reason, strings.Join(sids, ", "), d.Explain())
}

// directive is one line of a scenario's input with its indented
// continuation lines.
type directive struct {
	line       int
	verb, args string
}

func directives(t *testing.T, file string, first int, input []string) []directive {
	var ds []directive
	for i, l := range input {
		if rest, ok := strings.CutPrefix(l, "  "); ok && len(ds) > 0 {
			ds[len(ds)-1].args += "\n" + rest
			continue
		}
		verb, args, _ := strings.Cut(l, " ")
		if verb == "" {
			t.Fatalf("%s:%d: empty directive", file, first+i)
		}
		ds = append(ds, directive{line: first + i, verb: verb, args: args})
	}
	return ds
}

// evalScenario builds the request and policies of a scenario and
// evaluates them.
func evalScenario(t *testing.T, file string, first int, input []string) policy.Decision {
	t.Helper()
	var caller, action, resource, account string
	var key *policy.Policy
	var idents []*policy.Policy
	var setups []func(*policy.Request)
	for _, d := range directives(t, file, first, input) {
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s:%d: %s: %s", file, d.line, d.verb, fmt.Sprintf(format, args...))
		}
		fields := strings.Fields(d.args)
		switch d.verb {
		case "caller":
			caller = d.args
		case "action":
			action = d.args
		case "resource":
			resource = d.args
		case "account":
			account = d.args
		case "key-policy":
			text := strings.TrimSpace(d.args)
			if text == "default" {
				text = policy.DefaultKeyPolicy(acct)
			}
			key = mustParse(t, text, policy.KeyPolicy)
		case "identity-policy":
			idents = append(idents, mustParse(t, strings.TrimSpace(d.args), policy.IdentityPolicy))
		case "context", "resource-tags", "request-tags":
			m := map[string]string{}
			for _, f := range fields {
				k, v, ok := strings.Cut(f, "=")
				if !ok {
					fail("%q is not KEY=VALUE", f)
				}
				m[k] = v
			}
			set := map[string]func(*policy.Request, map[string]string){"context": (*policy.Request).SetEncryptionContext,
				"resource-tags": (*policy.Request).SetResourceTags, "request-tags": (*policy.Request).SetRequestTags}[d.verb]
			setups = append(setups, func(r *policy.Request) { set(r, m) })
		case "set":
			if len(fields) == 0 {
				fail("no condition key")
			}
			setups = append(setups, func(r *policy.Request) { r.Set(fields[0], fields[1:]...) })
		case "grant":
			var g policy.GrantRequest
			for k, v := range options(fields, fail) {
				switch k {
				case "operations":
					g.Operations = strings.Split(v, ",")
				case "grantee":
					g.GranteePrincipal = v
				case "retiring":
					g.RetiringPrincipal = v
				case "constraints":
					g.ConstraintTypes = strings.Split(v, ",")
				case "for-aws-resource":
					g.IsForAWSResource = v == "true"
				default:
					fail("unknown option %q", k)
				}
			}
			setups = append(setups, func(r *policy.Request) { r.SetGrant(g) })
		case "key-attributes":
			var k policy.KeyAttributes
			for o, v := range options(fields, fail) {
				switch o {
				case "spec":
					k.KeySpec = v
				case "usage":
					k.KeyUsage = v
				case "origin":
					k.Origin = v
				case "aliases":
					k.Aliases = strings.Split(v, ",")
				default:
					fail("unknown option %q", o)
				}
			}
			setups = append(setups, func(r *policy.Request) { r.SetKey(k) })
		case "request-alias":
			setups = append(setups, func(r *policy.Request) { r.SetRequestAlias(d.args) })
		case "time":
			ts, err := time.Parse(time.RFC3339, d.args)
			if err != nil {
				fail("%v", err)
			}
			setups = append(setups, func(r *policy.Request) { r.SetTime(ts) })
		case "source-ip":
			a, err := netip.ParseAddr(d.args)
			if err != nil {
				fail("%v", err)
			}
			setups = append(setups, func(r *policy.Request) { r.SetSourceIP(a) })
		case "secure-transport":
			b, err := strconv.ParseBool(d.args)
			if err != nil {
				fail("%v", err)
			}
			setups = append(setups, func(r *policy.Request) { r.SetSecureTransport(b) })
		default:
			fail("unknown directive")
		}
	}
	if caller == "" || action == "" {
		t.Fatalf("%s:%d: a scenario needs a caller and an action", file, first-1)
	}
	if resource == "" {
		resource = "*"
		if key != nil {
			resource = keyARN
		}
	}
	if account == "" {
		account = acct
	}
	req := policy.NewRequest(principal(t, caller), action, resource, account)
	for _, s := range setups {
		s(req)
	}
	return policy.Evaluate(req, key, idents)
}

// options parses k=v fields.
func options(fields []string, fail func(string, ...any)) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			fail("%q is not NAME=VALUE", f)
		}
		m[k] = v
	}
	return m
}
