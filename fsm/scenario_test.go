package fsm

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/scenarios/*.txt")

// TestScenarios runs the scenarios in testdata/scenarios: sequences of
// commands and what they answered, in the style of etcd-io/raft's
// datadriven tests. Each file is a list of directives, each followed by
// "----", its output and a blank line:
//
//	reset                       a new, empty FSM
//	<Op> path=value ...         apply a command of the registry, its JSON
//	                            members set by path (grant.key_id=k);
//	                            a value is a string, number or bool as the
//	                            member's type says, "quoted" for spaces
//	create-key id=k             a test key (testKey)
//	create-user name=bob id=AIDA1
//	user-key id=AKIA1 user=bob  an access key of a user, two per owner
//	root-key id=AKIA3           an access key of the account root
//	key id=k                    the key's state
//	grants key=k                the key's grants, in id order
//	iam                         the account's users and all access keys
//	aliases                     the account's aliases, in name order
//
// A command's output is "ok" and what it returned, or "error", the
// rejection's type and message. A refused or retried command (Existing)
// must leave the state as it was; the driver checks that everywhere.
//
// If this test fails after a change, run go test ./fsm -run TestScenarios
// -rewrite and read the diff: commit it only if you understand it.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			t.Parallel()
			runScenario(t, path)
		})
	}
}

// directive is one step of a scenario file.
type directive struct {
	line int    // of the command, for messages
	cmd  string // the whole command line
	want string // expected output
}

func parseScenario(t *testing.T, data []byte) (ds []directive, comments map[int]string) {
	t.Helper()
	comments = map[int]string{} // text before directive i
	var pending strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			pending.WriteString(line + "\n")
			continue
		}
		d := directive{line: n, cmd: line}
		if !sc.Scan() || sc.Text() != "----" {
			t.Fatalf("line %d: %q is not followed by ----", n, line)
		}
		n++
		var out []string
		for sc.Scan() {
			n++
			if sc.Text() == "" {
				break
			}
			out = append(out, sc.Text())
		}
		d.want = strings.Join(out, "\n")
		comments[len(ds)] = pending.String()
		pending.Reset()
		ds = append(ds, d)
	}
	comments[len(ds)] = pending.String()
	return ds, comments
}

func runScenario(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ds, comments := parseScenario(t, data)
	f := New()
	var out strings.Builder
	for i, d := range ds {
		got := runDirective(t, &f, d)
		if *rewrite {
			fmt.Fprintf(&out, "%s%s\n----\n%s\n\n", comments[i], d.cmd, got)
			continue
		}
		if got != d.want {
			t.Errorf("%s:%d: %s\n got: %s\nwant: %s", path, d.line, d.cmd, got, d.want)
		}
	}
	if *rewrite {
		s := strings.TrimSuffix(out.String()+comments[len(ds)], "\n") + "\n"
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runDirective runs one directive against *f and returns its output.
func runDirective(t *testing.T, f **FSM, d directive) string {
	t.Helper()
	name, args := splitArgs(t, d)
	switch name {
	case "reset":
		*f = New()
		return "ok"
	case "key":
		k, ok := (*f).Key(args["id"])
		if !ok {
			return "no key " + args["id"]
		}
		return k.ID + " " + string(k.State)
	case "grants":
		gs, _ := (*f).ListGrants(args["key"], "", "", 1000)
		var s []string
		for _, g := range gs {
			s = append(s, g.ID+" name="+g.Name+" grantee="+g.GranteePrincipal)
		}
		return "grants: " + strings.Join(s, ", ")
	case "aliases":
		as, _ := (*f).ListAliases(testAccount, "", "", 1000)
		s := []string{"aliases:"}
		for _, a := range as {
			s = append(s, fmt.Sprintf("%s->%s(%d,%d)", a.Name, a.KeyID, a.CreationDate, a.LastUpdatedDate))
		}
		return strings.Join(s, " ")
	case "iam":
		users, _ := (*f).ListUsers(testAccount, "", 1000)
		var s []string
		for _, u := range users {
			s = append(s, u.Name)
		}
		var ks []string
		(*f).iam.keys.Ascend(func(k *AccessKey) bool {
			ks = append(ks, k.ID+"("+k.Owner[strings.LastIndexByte(k.Owner, ':')+1:]+")")
			return true
		})
		return "users: " + strings.Join(s, " ") + "\naccess keys: " + strings.Join(ks, " ")
	}
	var c Command
	switch name {
	case "create-key":
		c = create(args["id"])
	case "create-user":
		c = createUser(args["name"], args["id"])
	case "user-key":
		c = userKey(args["id"], args["user"])
	case "root-key":
		c = rootKey(args["id"])
	default:
		k, ok := registry[Op(name)]
		if !ok {
			t.Fatalf("line %d: unknown directive %q", d.line, name)
		}
		c = k.new()
		for p, v := range args {
			if err := setPath(reflect.ValueOf(c).Elem(), strings.Split(p, "."), v); err != nil {
				t.Fatalf("line %d: %s: %v", d.line, p, err)
			}
		}
	}
	before := stripApplied(snapshotBytes(t, *f))
	r := applyAll(t, *f, c)[0]
	if (r.Err != nil || r.Existing) && !bytes.Equal(before, stripApplied(snapshotBytes(t, *f))) {
		t.Errorf("line %d: a refused or retried command changed the state", d.line)
	}
	return describeResult(r)
}

// splitArgs splits a command line into its name and key=value arguments.
func splitArgs(t *testing.T, d directive) (string, map[string]string) {
	t.Helper()
	fields := strings.Fields(d.cmd)
	// Rejoin quoted values that contain spaces.
	var parts []string
	for i := 0; i < len(fields); i++ {
		p := fields[i]
		if eq := strings.IndexByte(p, '='); eq >= 0 && strings.HasPrefix(p[eq+1:], `"`) {
			for (len(p) == eq+2 || !strings.HasSuffix(p, `"`)) && i+1 < len(fields) {
				i++
				p += " " + fields[i]
			}
		}
		parts = append(parts, p)
	}
	args := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			t.Fatalf("line %d: %q is not key=value", d.line, p)
		}
		if strings.HasPrefix(v, `"`) {
			u, err := strconv.Unquote(v)
			if err != nil {
				t.Fatalf("line %d: %s: %v", d.line, v, err)
			}
			v = u
		}
		args[k] = v
	}
	return parts[0], args
}

// setPath sets the member of v named by JSON names path to s.
func setPath(v reflect.Value, path []string, s string) error {
	for _, name := range path {
		if v.Kind() != reflect.Struct {
			return fmt.Errorf("%s is inside a %s", name, v.Kind())
		}
		found := false
		for i := range v.NumField() {
			if tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ","); tag == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s has no member %s", v.Type(), name)
		}
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		v.SetBool(b)
		return err
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		v.SetInt(n)
		return err
	case reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 0, 64)
		v.SetUint(n)
		return err
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(s))
			return nil
		}
		return fmt.Errorf("cannot set a %s", v.Type())
	default:
		return fmt.Errorf("cannot set a %s", v.Type())
	}
	return nil
}

// describeResult is a command's output line.
func describeResult(r *Result) string {
	if r.Err != nil {
		return "error " + r.Err.Type + ": " + r.Err.Message
	}
	s := []string{"ok"}
	if r.Existing {
		s = append(s, "existing")
	}
	switch {
	case r.Key != nil:
		s = append(s, "key="+r.Key.ID, "state="+string(r.Key.State))
	case r.Grant != nil:
		s = append(s, "grant="+r.Grant.ID, fmt.Sprintf("created-index=%d", r.Grant.CreatedIndex))
	case r.User != nil:
		s = append(s, "user="+r.User.Name, "id="+r.User.ID)
	case r.AccessKey != nil:
		s = append(s, "access-key="+r.AccessKey.ID)
	case r.Role != nil:
		s = append(s, "role="+r.Role.Name, "id="+r.Role.ID)
	case r.Policy != nil:
		s = append(s, "policy="+r.Policy.Name)
	case r.Revoked != nil:
		s = append(s, "revoked="+r.Revoked.Serial)
	case r.Cert != nil:
		s = append(s, "cert="+r.Cert.Serial)
	case r.Alias != nil:
		s = append(s, "alias="+r.Alias.Name, "key="+r.Alias.KeyID)
	}
	return strings.Join(s, " ")
}
