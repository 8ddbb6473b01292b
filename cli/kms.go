package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/wire"
)

type kmsClient = kmsv1connect.KeyManagementServiceClient

// kmsVerbs is the table of `trent kms` verbs. An entry names the client
// method and the flags the AWS CLI requires; the verb name, the AWS
// operation name and one flag per request field are derived from the
// request message (see [rpc] and [flagsOf]). To add a verb, add a line.
var kmsVerbs = newVerbTable("kms", kmsUsageHead, 38,
	// Keys.
	rpc(kmsClient.CreateKey, "Creates a KMS key."),
	rpc(kmsClient.DescribeKey, "Returns a key's metadata.", "key-id"),
	rpc(kmsClient.ListKeys, "Lists the keys of the caller's account."),
	rpc(kmsClient.EnableKey, "Enables a key.", "key-id"),
	rpc(kmsClient.DisableKey, "Disables a key; it refuses cryptographic use.", "key-id"),
	rpc(kmsClient.UpdateKeyDescription, "Replaces a key's description.", "key-id", "description"),
	rpc(kmsClient.ScheduleKeyDeletion, "Schedules a key for deletion after a waiting period.", "key-id"),
	rpc(kmsClient.CancelKeyDeletion, "Cancels a scheduled deletion; the key becomes Disabled.", "key-id"),

	// Cryptographic operations.
	rpc(kmsClient.Encrypt, "Encrypts up to 4096 bytes.", "key-id", "plaintext"),
	rpc(kmsClient.Decrypt, "Decrypts a ciphertext blob.", "ciphertext-blob"),
	rpc(kmsClient.ReEncrypt, "Decrypts and re-encrypts inside the service.", "ciphertext-blob", "destination-key-id"),
	rpc(kmsClient.GenerateDataKey, "Returns a data key in plaintext and encrypted.", "key-id"),
	rpc(kmsClient.GenerateDataKeyWithoutPlaintext, "Returns a data key, encrypted only.", "key-id"),
	rpc(kmsClient.GenerateDataKeyPair, "Returns an asymmetric data key pair.", "key-id", "key-pair-spec"),
	rpc(kmsClient.GenerateDataKeyPairWithoutPlaintext, "Returns an asymmetric data key pair without the plaintext private key.", "key-id", "key-pair-spec"),
	rpc(kmsClient.GenerateRandom, "Returns random bytes."),
	rpc(kmsClient.GenerateMac, "Computes an HMAC with an HMAC key.", "message", "key-id", "mac-algorithm"),
	rpc(kmsClient.VerifyMac, "Verifies an HMAC.", "message", "key-id", "mac-algorithm", "mac"),
	rpc(kmsClient.Sign, "Signs a message with an asymmetric key.", "key-id", "message", "signing-algorithm"),
	rpc(kmsClient.Verify, "Verifies a signature.", "key-id", "message", "signature", "signing-algorithm"),
	rpc(kmsClient.GetPublicKey, "Returns the public half of an asymmetric key.", "key-id"),
	rpc(kmsClient.DeriveSharedSecret, "Derives an ECDH shared secret with a key agreement key.", "key-id", "key-agreement-algorithm", "public-key"),

	// Grants.
	rpc(kmsClient.CreateGrant, "Creates a grant on a key for a grantee.", "key-id", "grantee-principal", "operations"),
	rpc(kmsClient.ListGrants, "Lists the grants on a key.", "key-id"),
	rpc(kmsClient.ListRetirableGrants, "Lists the grants a principal may retire.", "retiring-principal"),
	rpc(kmsClient.RetireGrant, "Retires a grant, by --grant-token or by --key-id and --grant-id."),
	rpc(kmsClient.RevokeGrant, "Revokes a grant.", "key-id", "grant-id"),

	// Policies, aliases, tags, rotation.
	rpc(kmsClient.GetKeyPolicy, "Returns a key policy.", "key-id"),
	rpc(kmsClient.PutKeyPolicy, "Replaces a key policy.", "key-id", "policy"),
	rpc(kmsClient.ListKeyPolicies, "Lists a key's policy names.", "key-id"),
	rpc(kmsClient.CreateAlias, "Creates an alias for a key.", "alias-name", "target-key-id"),
	rpc(kmsClient.UpdateAlias, "Points an alias at another key.", "alias-name", "target-key-id"),
	rpc(kmsClient.DeleteAlias, "Deletes an alias.", "alias-name"),
	rpc(kmsClient.ListAliases, "Lists aliases."),
	rpc(kmsClient.TagResource, "Adds or replaces tags on a key.", "key-id", "tags"),
	rpc(kmsClient.UntagResource, "Removes tags from a key.", "key-id", "tag-keys"),
	rpc(kmsClient.ListResourceTags, "Lists a key's tags.", "key-id"),
	rpc(kmsClient.EnableKeyRotation, "Turns on automatic rotation.", "key-id"),
	rpc(kmsClient.DisableKeyRotation, "Turns off automatic rotation.", "key-id"),
	rpc(kmsClient.GetKeyRotationStatus, "Reports rotation settings.", "key-id"),
	rpc(kmsClient.RotateKeyOnDemand, "Adds new key material now.", "key-id"),
	rpc(kmsClient.ListKeyRotations, "Lists completed rotations.", "key-id"),

	// Imported key material.
	rpc(kmsClient.GetParametersForImport, "Returns a wrapping public key and an import token.", "key-id", "wrapping-algorithm", "wrapping-key-spec"),
	rpc(kmsClient.ImportKeyMaterial, "Imports key material into a key of origin EXTERNAL.", "key-id", "import-token", "encrypted-key-material"),
	rpc(kmsClient.DeleteImportedKeyMaterial, "Deletes a key's imported key material.", "key-id"),
)

// flagAliases are extra names of request fields, as the AWS CLI spells them
// for paginated operations.
var flagAliases = map[string]string{
	"starting-token": "marker",
	"page-size":      "limit",
}

// verb is one subcommand of a command group (`trent kms`, `trent iam`):
// usually an RPC whose flags set the fields of its request message.
type verb struct {
	group    string // the command group, e.g. kms
	name     string // kebab-case, e.g. generate-data-key
	op       string // AWS operation, e.g. GenerateDataKey
	summary  string
	required []string // flags the AWS CLI requires
	flags    []*flagSpec
	newReq   func() proto.Message
	// call sends the request to the service at baseURL.
	call func(ctx context.Context, hc connect.HTTPClient, baseURL string, req proto.Message) (proto.Message, error)
	// run, when set, replaces parsing and calling: the verb's own command
	// line, for verbs that are not one RPC (help holds their usage).
	run  func(ctx context.Context, c *command, g *globals, args []string) error
	help string
}

// rpc makes the `trent kms` verb of a client method.
func rpc[Req, Resp proto.Message](method func(kmsClient, context.Context, Req) (Resp, error), summary string, required ...string) *verb {
	return rpcVerb("kms", kmsv1connect.NewKeyManagementServiceClient, method, summary, required...)
}

// rpcVerb makes the verb of a client method of any service. Its name and
// flags come from the request message: CreateGrantRequest gives
// create-grant, and the field grantee_principal gives --grantee-principal.
func rpcVerb[C any, Req, Resp proto.Message](group string, newClient func(connect.HTTPClient, string, ...connect.ClientOption) C,
	method func(C, context.Context, Req) (Resp, error), summary string, required ...string) *verb {
	var zero Req
	mt := zero.ProtoReflect().Type()
	op := strings.TrimSuffix(string(mt.Descriptor().Name()), "Request")
	v := &verb{
		group:    group,
		name:     kebab(op),
		op:       op,
		summary:  summary,
		required: required,
		flags:    flagsOf(mt.Descriptor()),
		newReq:   func() proto.Message { return mt.New().Interface() },
		call: func(ctx context.Context, hc connect.HTTPClient, baseURL string, req proto.Message) (proto.Message, error) {
			// Requests and responses are small: don't spend CPU on gzip.
			c := newClient(hc, baseURL, connect.WithAcceptCompression("gzip", nil, nil))
			resp, err := method(c, ctx, req.(Req))
			if err != nil {
				return nil, err
			}
			return resp, nil
		},
	}
	for _, r := range required {
		if v.flag(r) == nil {
			panic(fmt.Sprintf("cli: verb %s requires --%s, which is not a field of %s", v.name, r, mt.Descriptor().Name()))
		}
	}
	return v
}

// kebab turns an AWS operation name into a CLI verb: GenerateDataKey
// becomes generate-data-key.
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// verbTable is the set of verbs of one command group, sorted by name.
type verbTable struct {
	group  string
	head   string // the start of the group's usage text
	width  int    // the verb-name column width in the usage text
	verbs  []*verb
	byName map[string]*verb
}

func newVerbTable(group, head string, width int, verbs ...*verb) *verbTable {
	t := &verbTable{group: group, head: head, width: width, byName: make(map[string]*verb)}
	for _, v := range verbs {
		if t.byName[v.name] != nil {
			panic("cli: duplicate verb " + v.name)
		}
		t.byName[v.name] = v
		t.verbs = append(t.verbs, v)
	}
	slices.SortFunc(t.verbs, func(a, b *verb) int { return strings.Compare(a.name, b.name) })
	return t
}

func (t *verbTable) names() []string {
	names := make([]string, len(t.verbs))
	for i, v := range t.verbs {
		names[i] = v.name
	}
	return names
}

func (v *verb) flag(name string) *flagSpec {
	if a, ok := flagAliases[name]; ok {
		name = a
	}
	for _, f := range v.flags {
		if f.name == name {
			return f
		}
	}
	return nil
}

// lookup finds the flag for --name, including --no-name for booleans.
func (v *verb) lookup(name string) (f *flagSpec, negated bool) {
	if f := v.flag(name); f != nil {
		return f, false
	}
	if base, ok := strings.CutPrefix(name, "no-"); ok {
		if f := v.flag(base); f != nil && f.kind == kindBool {
			return f, true
		}
	}
	return nil, false
}

func (v *verb) flagNames() []string {
	var names []string
	for _, f := range v.flags {
		names = append(names, "--"+f.name)
		if f.kind == kindBool {
			names = append(names, "--no-"+f.name)
		}
	}
	return names
}

// parse builds the request from the verb's arguments.
func (v *verb) parse(args []string, files fileReader) (proto.Message, error) {
	req := v.newReq()
	m := req.ProtoReflect()
	seen := make(map[string]bool)
	for i := 0; i < len(args); {
		a := args[i]
		i++
		if !strings.HasPrefix(a, "--") || a == "--" {
			return nil, v.usageErr(fmt.Sprintf("unexpected argument %q", a))
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		f, negated := v.lookup(name)
		if f == nil {
			return nil, &usageError{
				msg:  fmt.Sprintf("unknown option --%s for %s\nvalid options: %s", name, v.name, strings.Join(v.flagNames(), ", ")),
				help: fmt.Sprintf("Run 'trent %s %s --help' for usage.\n", v.group, v.name),
			}
		}
		if seen[f.name] && !f.repeated() {
			return nil, v.usageErr(fmt.Sprintf("argument --%s: specified more than once", f.name))
		}
		seen[f.name] = true
		if f.kind == kindBool {
			if hasVal {
				return nil, v.usageErr(fmt.Sprintf("argument --%s: takes no value (use --%s or --no-%s)", name, f.name, f.name))
			}
			m.Set(f.field, protoreflect.ValueOfBool(!negated))
			continue
		}
		if negated {
			return nil, v.usageErr(fmt.Sprintf("unknown option --%s", name))
		}
		var vals []string
		if hasVal {
			vals = []string{val}
		} else {
			for i < len(args) && !strings.HasPrefix(args[i], "--") {
				vals = append(vals, args[i])
				i++
				if !f.repeated() {
					break
				}
			}
		}
		if len(vals) == 0 {
			return nil, v.usageErr(fmt.Sprintf("argument --%s: expected %s", f.name, f.expects()))
		}
		if err := f.set(m, vals, files); err != nil {
			return nil, &usageError{msg: fmt.Sprintf("error parsing parameter '--%s': %v", f.name, err)}
		}
	}
	var missing []string
	for _, r := range v.required {
		if !seen[r] {
			missing = append(missing, "--"+r)
		}
	}
	if len(missing) > 0 {
		return nil, v.usageErr("the following arguments are required: " + strings.Join(missing, ", "))
	}
	return req, nil
}

func (v *verb) usageErr(msg string) error {
	return &usageError{msg: v.name + ": " + msg, help: fmt.Sprintf("Run 'trent %s %s --help' for usage.\n", v.group, v.name)}
}

// usage is the help text of the verb.
func (v *verb) usage() string {
	var b strings.Builder
	if v.help != "" {
		return v.help
	}
	fmt.Fprintf(&b, "usage: trent %s %s", v.group, v.name)
	for _, f := range v.flags {
		if v.isRequired(f.name) {
			fmt.Fprintf(&b, " %s", f.synopsis())
		}
	}
	if len(v.flags) > len(v.required) {
		b.WriteString(" [options]")
	}
	fmt.Fprintf(&b, "\n\n%s AWS operation: %s.\n\nOptions:\n", v.summary, v.op)
	for _, f := range v.flags {
		line := "  " + f.synopsis()
		if v.isRequired(f.name) {
			line += strings.Repeat(" ", max(1, 44-len(line))) + "(required)"
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("\nGlobal options: --endpoint, --data-dir, --ca, --cert, --key, --output json|text, --query PATH (trent --help)\n")
	return b.String()
}

func (v *verb) isRequired(name string) bool { return slices.Contains(v.required, name) }

const kmsUsageHead = `usage: trent [global options] kms <verb> [options]

Calls a KMS operation. Verbs and flags are the AWS CLI's (aws kms <verb>);
output is the AWS CLI's JSON, or text with --output text.
Run 'trent kms <verb> --help' for a verb's options.

Verbs:
`

// usage returns the group's usage text.
func (t *verbTable) usage() string {
	var b strings.Builder
	b.WriteString(t.head)
	for _, v := range t.verbs {
		fmt.Fprintf(&b, "  %-*s %s\n", t.width, v.name, v.summary)
	}
	return b.String()
}

// kms runs `trent kms <verb> ...`.
func (c *command) kms(ctx context.Context, g *globals, args []string) error {
	return c.runVerb(ctx, g, kmsVerbs, args)
}

// runVerb runs `trent <group> <verb> ...` for a group's verb table.
func (c *command) runVerb(ctx context.Context, g *globals, t *verbTable, args []string) error {
	if len(args) == 0 {
		if g.help {
			fmt.Fprint(c.stdout, t.usage())
			return nil
		}
		return &usageError{msg: t.group + ": missing verb", help: t.usage()}
	}
	if args[0] == "help" {
		fmt.Fprint(c.stdout, t.usage())
		return nil
	}
	v := t.byName[args[0]]
	if v == nil {
		return &usageError{
			msg:  fmt.Sprintf("%s: unknown verb %q\nvalid verbs: %s", t.group, args[0], strings.Join(t.names(), ", ")),
			help: fmt.Sprintf("Run 'trent %s help' for usage.\n", t.group),
		}
	}
	if g.help {
		fmt.Fprint(c.stdout, v.usage())
		return nil
	}
	if v.run != nil {
		return v.run(ctx, c, g, args[1:])
	}
	req, err := v.parse(args[1:], fileReader{stdin: c.stdin, base64Blobs: g.binaryFormat == "base64"})
	if err != nil {
		return err
	}
	t2, err := resolveTarget(g, c.lookupEnv)
	if err != nil {
		return err
	}
	hc, err := t2.httpClient(g.connectTimeout)
	if err != nil {
		return err
	}
	ctx, cancel := withReadTimeout(ctx, g)
	defer cancel()
	mc := &metaClient{next: hc, send: g.readHeaders}
	resp, err := v.call(ctx, mc, t2.baseURL, req)
	if g.showConsistency {
		mc.print(c.stderr)
	}
	if err != nil {
		return &callError{op: v.op, endpoint: t2.baseURL, err: err}
	}
	return render(c.stdout, resp, g.output, g.query)
}

// metaClient adds the read-consistency request headers to a call and keeps
// the response headers that say how it was served.
type metaClient struct {
	next     connect.HTTPClient
	send     http.Header
	got      http.Header
	noRecord bool // set before sharing it between goroutines
}

func (m *metaClient) Do(req *http.Request) (*http.Response, error) {
	for k, v := range m.send {
		req.Header[k] = v
	}
	resp, err := m.next.Do(req)
	if err == nil && !m.noRecord {
		m.got = resp.Header
	}
	return resp, err
}

// print writes the call's consistency metadata as one line.
func (m *metaClient) print(w io.Writer) {
	if m.got == nil {
		return
	}
	var parts []string
	for _, h := range []struct{ name, header string }{
		{"served-by", wire.ServedByHeader},
		{"consistency", wire.ConsistencyHeader},
		{"applied-index", wire.AppliedIndexHeader},
		{"staleness-bound", wire.StalenessBoundHeader},
		{"simulated-propagation", wire.SimulatedPropagationHeader},
	} {
		if v := m.got.Get(h.header); v != "" {
			parts = append(parts, h.name+"="+v)
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "trent: %s\n", strings.Join(parts, " "))
	}
}

// withReadTimeout applies --cli-read-timeout to ctx.
func withReadTimeout(ctx context.Context, g *globals) (context.Context, context.CancelFunc) {
	if g.readTimeout > 0 {
		return context.WithTimeout(ctx, g.readTimeout)
	}
	return context.WithCancel(ctx)
}

// callTimeout bounds calls made outside the verb table (bench setup).
const callTimeout = 60 * time.Second
