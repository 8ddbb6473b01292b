package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

const grantsUsage = `usage: trent [global options] grants <verb> [options]

Grant maintenance across keys.

Verbs:
  find-duplicates   lists groups of identical grants; --retire-extras revokes
                    all but the oldest of each group
`

const findDuplicatesUsage = `usage: trent grants find-duplicates [--key-id KEY] [--retire-extras [--yes]]

Lists groups of grants that duplicate each other: grants on the same key
with the same name, grantee principal, retiring principal, operations (in
any order) and constraints. Such grants usually come from CreateGrant
retries without a Name. Prints

  {"DuplicateGroups": [{"KeyId", "Name", "GranteePrincipal",
    "RetiringPrincipal", "Operations", "Constraints", "GrantIds"}]}

with each group's GrantIds oldest first (by CreationDate, then GrantId).

Options:
  --key-id KEY      only this key (id or ARN); default: every key of the
                    account (ListKeys)
  --retire-extras   revoke every grant of each group but the oldest, after
                    asking on standard input (y/N); the output then also
                    lists "RevokedGrants"
  --yes             with --retire-extras, do not ask

Global options: --endpoint, --data-dir, --ca, --cert, --key, --output, --query (trent --help)
`

// grants runs `trent grants <verb> ...`.
func (c *command) grants(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 {
		if g.help {
			fmt.Fprint(c.stdout, grantsUsage)
			return nil
		}
		return &usageError{msg: "grants: missing verb", help: grantsUsage}
	}
	switch args[0] {
	case "help":
		fmt.Fprint(c.stdout, grantsUsage)
		return nil
	case "find-duplicates":
		if g.help {
			fmt.Fprint(c.stdout, findDuplicatesUsage)
			return nil
		}
		return c.findDuplicates(ctx, g, args[1:])
	}
	return &usageError{
		msg:  fmt.Sprintf("grants: unknown verb %q\nvalid verbs: find-duplicates", args[0]),
		help: "Run 'trent grants help' for usage.\n",
	}
}

// grantGroup is a set of grants with the same properties, oldest first.
type grantGroup struct {
	grants []*kmsv1.GrantListEntry
}

func (gr *grantGroup) first() *kmsv1.GrantListEntry { return gr.grants[0] }

// findDuplicates runs `trent grants find-duplicates`.
func (c *command) findDuplicates(ctx context.Context, g *globals, args []string) error {
	var keyID string
	var retire, yes bool
	set := flag.NewFlagSet("find-duplicates", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	set.StringVar(&keyID, "key-id", "", "")
	set.BoolVar(&retire, "retire-extras", false, "")
	set.BoolVar(&yes, "yes", false, "")
	usage := func(msg string) error {
		return &usageError{msg: "find-duplicates: " + msg, help: "Run 'trent grants find-duplicates --help' for usage.\n"}
	}
	if err := set.Parse(args); err != nil {
		return usage(err.Error())
	}
	switch {
	case set.NArg() > 0:
		return usage(fmt.Sprintf("unexpected argument %q", set.Arg(0)))
	case yes && !retire:
		return usage("--yes only applies with --retire-extras")
	}
	client, t, err := c.dial(g)
	if err != nil {
		return err
	}
	ctx, cancel := withReadTimeout(ctx, g)
	defer cancel()

	keys := []string{keyID}
	if keyID == "" {
		if keys, err = listAllKeys(ctx, client); err != nil {
			return &callError{op: "ListKeys", endpoint: t.baseURL, err: err}
		}
	}
	var groups []*grantGroup
	for _, k := range keys {
		entries, err := listAllGrants(ctx, client, k)
		if err != nil {
			return &callError{op: "ListGrants", endpoint: t.baseURL, err: err}
		}
		groups = append(groups, duplicateGroups(entries)...)
	}
	slices.SortFunc(groups, func(a, b *grantGroup) int {
		return cmp.Or(strings.Compare(a.first().KeyId, b.first().KeyId), compareAge(a.first(), b.first()))
	})

	var revoked []*kmsv1.GrantListEntry
	if retire && len(groups) > 0 {
		if !yes && !c.confirmRetire(groups) {
			return fmt.Errorf("aborted; no grant was revoked")
		}
		for _, gr := range groups {
			for _, e := range gr.grants[1:] {
				if _, err := client.RevokeGrant(ctx, &kmsv1.RevokeGrantRequest{KeyId: e.KeyId, GrantId: e.GrantId}); err != nil {
					// Say what was removed before failing.
					_ = renderValue(c.stdout, duplicatesOutput(groups, revoked, true), g.output, g.query)
					return &callError{op: "RevokeGrant", endpoint: t.baseURL, err: err}
				}
				revoked = append(revoked, e)
			}
		}
	}
	return renderValue(c.stdout, duplicatesOutput(groups, revoked, retire), g.output, g.query)
}

// confirmRetire lists what --retire-extras would revoke on stderr and
// reads the answer from stdin. Only y or yes proceeds.
func (c *command) confirmRetire(groups []*grantGroup) bool {
	n := 0
	for _, gr := range groups {
		ids := make([]string, 0, len(gr.grants)-1)
		for _, e := range gr.grants[1:] {
			ids = append(ids, e.GrantId)
		}
		n += len(ids)
		fmt.Fprintf(c.stderr, "key %s: keep grant %s, revoke %s\n", gr.first().KeyId, gr.first().GrantId, strings.Join(ids, ", "))
	}
	fmt.Fprintf(c.stderr, "Revoke %d grant(s), keeping the oldest of each of %d group(s)? [y/N] ", n, len(groups))
	var line string
	if c.stdin != nil {
		line, _ = bufio.NewReader(c.stdin).ReadString('\n')
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func listAllKeys(ctx context.Context, client kmsClient) ([]string, error) {
	var ids []string
	marker := ""
	for {
		limit := int32(1000)
		resp, err := client.ListKeys(ctx, &kmsv1.ListKeysRequest{Limit: &limit, Marker: marker})
		if err != nil {
			return nil, err
		}
		for _, k := range resp.Keys {
			ids = append(ids, k.KeyId)
		}
		if !resp.Truncated || resp.NextMarker == "" {
			return ids, nil
		}
		marker = resp.NextMarker
	}
}

func listAllGrants(ctx context.Context, client kmsClient, keyID string) ([]*kmsv1.GrantListEntry, error) {
	var out []*kmsv1.GrantListEntry
	marker := ""
	for {
		limit := int32(100)
		resp, err := client.ListGrants(ctx, &kmsv1.ListGrantsRequest{KeyId: keyID, Limit: &limit, Marker: marker})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.Grants {
			if e.KeyId == "" {
				e.KeyId = keyID
			}
			out = append(out, e)
		}
		if !resp.Truncated || resp.NextMarker == "" {
			return out, nil
		}
		marker = resp.NextMarker
	}
}

// duplicateGroups returns the groups of two or more grants among entries
// (the grants of one key) that have the same properties.
func duplicateGroups(entries []*kmsv1.GrantListEntry) []*grantGroup {
	byProps := make(map[string]*grantGroup)
	var order []string
	for _, e := range entries {
		k := grantProperties(e)
		gr, ok := byProps[k]
		if !ok {
			gr = &grantGroup{}
			byProps[k] = gr
			order = append(order, k)
		}
		gr.grants = append(gr.grants, e)
	}
	var out []*grantGroup
	for _, k := range order {
		if gr := byProps[k]; len(gr.grants) > 1 {
			slices.SortFunc(gr.grants, compareAge)
			out = append(out, gr)
		}
	}
	return out
}

// compareAge orders grants oldest first: by CreationDate, then GrantId.
func compareAge(a, b *kmsv1.GrantListEntry) int {
	return cmp.Or(cmp.Compare(a.CreationDate, b.CreationDate), strings.Compare(a.GrantId, b.GrantId))
}

// grantProperties is a canonical encoding of everything that makes two
// grants the same grant: all but id, creation date and issuing account.
// The retiring principal counts: revoking a grant that someone else may
// retire would change who can retire it.
func grantProperties(e *kmsv1.GrantListEntry) string {
	ops := slices.Clone(e.Operations)
	slices.Sort(ops)
	ops = slices.Compact(ops)
	var subset, equals map[string]string
	if c := e.Constraints; c != nil {
		if len(c.EncryptionContextSubset) > 0 {
			subset = c.EncryptionContextSubset
		}
		if len(c.EncryptionContextEquals) > 0 {
			equals = c.EncryptionContextEquals
		}
	}
	// encoding/json sorts map keys, so equal maps encode equally.
	b, _ := json.Marshal([]any{e.KeyId, e.Name, e.GranteePrincipal, e.RetiringPrincipal, ops, subset, equals})
	return string(b)
}

// duplicatesOutput builds the ordered JSON output.
func duplicatesOutput(groups []*grantGroup, revoked []*kmsv1.GrantListEntry, withRevoked bool) *object {
	list := []any{}
	for _, gr := range groups {
		f := gr.first()
		o := &object{}
		add := func(name string, v any) {
			o.names = append(o.names, name)
			o.values = append(o.values, v)
		}
		add("KeyId", f.KeyId)
		if f.Name != "" {
			add("Name", f.Name)
		}
		add("GranteePrincipal", f.GranteePrincipal)
		if f.RetiringPrincipal != "" {
			add("RetiringPrincipal", f.RetiringPrincipal)
		}
		ops := []any{}
		for _, op := range f.Operations {
			ops = append(ops, op)
		}
		add("Operations", ops)
		if f.Constraints != nil {
			if v, err := toJSONValue(f.Constraints); err == nil {
				if c, ok := v.(*object); ok && len(c.names) > 0 {
					add("Constraints", c)
				}
			}
		}
		ids := []any{}
		for _, e := range gr.grants {
			ids = append(ids, e.GrantId)
		}
		add("GrantIds", ids)
		list = append(list, o)
	}
	out := &object{names: []string{"DuplicateGroups"}, values: []any{list}}
	if withRevoked {
		rl := []any{}
		for _, e := range revoked {
			rl = append(rl, &object{names: []string{"KeyId", "GrantId"}, values: []any{e.KeyId, e.GrantId}})
		}
		out.names = append(out.names, "RevokedGrants")
		out.values = append(out.values, rl)
	}
	return out
}

// renderValue prints an output tree like render prints a response.
func renderValue(w io.Writer, v any, output, query string) error {
	if query != "" {
		q, err := parseQuery(query)
		if err != nil {
			return &usageError{msg: "argument --query: " + err.Error()}
		}
		v = q.apply(v)
	}
	bw := bufio.NewWriter(w)
	if output == "text" {
		writeText(bw, v, "", nil)
	} else {
		writeJSON(bw, v, 0)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
