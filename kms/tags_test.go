package kms_test

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

func tags(kv ...string) []*kmsv1.Tag {
	var out []*kmsv1.Tag
	for i := 0; i < len(kv); i += 2 {
		out = append(out, &kmsv1.Tag{TagKey: kv[i], TagValue: kv[i+1]})
	}
	return out
}

func (e *env) tag(t *testing.T, keyID string, kv ...string) {
	t.Helper()
	if _, err := e.svc.TagResource(e.root, &kmsv1.TagResourceRequest{KeyId: keyID, Tags: tags(kv...)}); err != nil {
		t.Fatalf("TagResource %v: %v", kv, err)
	}
}

// listTags lists all of a key's tags as "key=value" strings, page by page.
func (e *env) listTags(t *testing.T, keyID string, limit *int32) (all []string, pages int) {
	t.Helper()
	marker := ""
	for {
		r, err := e.svc.ListResourceTags(e.root, &kmsv1.ListResourceTagsRequest{KeyId: keyID, Limit: limit, Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tg := range r.Tags {
			all = append(all, tg.TagKey+"="+tg.TagValue)
		}
		if !r.Truncated {
			if r.NextMarker != "" {
				t.Fatal("NextMarker on the last page")
			}
			return all, pages
		}
		marker = r.NextMarker
	}
}

// Every bad request gets AWS's error and changes nothing.
func TestTagValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	e.tag(t, m.KeyId, "keep", "1")
	pending := e.createKey(t)
	e.apply(t, &fsm.ScheduleKeyDeletion{KeyID: pending.KeyId, DeletionDate: 1, PendingWindowInDays: 7})
	full := e.createKey(t)
	var kv []string
	for i := range 50 {
		kv = append(kv, fmt.Sprintf("t%02d", i), "v")
	}
	e.tag(t, full.KeyId, kv...)
	tagOp := func(id string, tg []*kmsv1.Tag, _ []string) error {
		_, err := e.svc.TagResource(e.root, &kmsv1.TagResourceRequest{KeyId: id, Tags: tg})
		return err
	}
	untagOp := func(id string, _ []*kmsv1.Tag, keys []string) error {
		_, err := e.svc.UntagResource(e.root, &kmsv1.UntagResourceRequest{KeyId: id, TagKeys: keys})
		return err
	}
	var many []string
	for i := range 51 {
		many = append(many, fmt.Sprintf("m%02d", i), "")
	}
	tests := []struct {
		name string
		op   func(string, []*kmsv1.Tag, []string) error
		key  string
		tags []*kmsv1.Tag
		keys []string
		want string
	}{
		{"no tags", tagOp, m.KeyId, nil, nil, wire.Validation},
		{"empty tag key", tagOp, m.KeyId, tags("", "v"), nil, wire.Validation},
		{"long tag key", tagOp, m.KeyId, tags(strings.Repeat("k", 129), "v"), nil, wire.Validation},
		{"long tag value", tagOp, m.KeyId, tags("k", strings.Repeat("v", 257)), nil, wire.Validation},
		{"aws prefix", tagOp, m.KeyId, tags("aws:team", "v"), nil, wire.Tag},
		{"AWS prefix", tagOp, m.KeyId, tags("AWS:team", "v"), nil, wire.Tag},
		{"duplicate key", tagOp, m.KeyId, tags("a", "1", "a", "2"), nil, wire.Tag},
		{"51 in one request", tagOp, m.KeyId, tags(many...), nil, wire.Tag},
		{"past 50 on the key", tagOp, full.KeyId, tags("new", ""), nil, wire.Tag},
		{"no key id", tagOp, "", tags("a", "1"), nil, wire.Validation},
		{"unknown key", tagOp, "11111111-2222-3333-4444-555555555555", tags("a", "1"), nil, wire.NotFound},
		{"pending deletion", tagOp, pending.KeyId, tags("a", "1"), nil, wire.KMSInvalidState},
		{"alias", tagOp, "alias/x", tags("a", "1"), nil, wire.InvalidArn},
		{"untag no keys", untagOp, m.KeyId, nil, nil, wire.Validation},
		{"untag empty key", untagOp, m.KeyId, nil, []string{""}, wire.Validation},
		{"untag long key", untagOp, m.KeyId, nil, []string{strings.Repeat("k", 129)}, wire.Validation},
		{"untag unknown key", untagOp, "11111111-2222-3333-4444-555555555555", nil, []string{"keep"}, wire.NotFound},
		{"untag pending deletion", untagOp, pending.KeyId, nil, []string{"keep"}, wire.KMSInvalidState},
		{"untag alias ARN", untagOp, aliasARNPrefix + "alias/x", nil, []string{"keep"}, wire.InvalidArn},
	}
	before := snapshot(t, e.fsm)
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			wantType(t, tt.op(tt.key, tt.tags, tt.keys), tt.want)
		})
	}
	if after := snapshot(t, e.fsm); string(after) != string(before) {
		t.Fatal("a refused tag request changed the state")
	}
	wantError(t, tagOp(pending.KeyId, tags("a", "1"), nil), wire.KMSInvalidState, pending.Arn+" is pending deletion.")
	wantError(t, tagOp("alias/x", tags("a", "1"), nil), wire.InvalidArn, "Key Aliases are not supported for this operation.")
	wantError(t, tagOp(full.KeyId, tags("new", ""), nil), wire.Tag, "Too many tags: a key can have at most 50 tags.")
	// Maximal lengths are fine; an empty value is a value.
	e.tag(t, m.KeyId, strings.Repeat("k", 128), strings.Repeat("v", 256), "empty", "")
	// Overwriting a tag of a full key does not add one.
	e.tag(t, full.KeyId, "t00", "w")
}

func TestTagOverwriteUntagAndList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	e.tag(t, m.KeyId, "b", "1", "a", "2")
	e.tag(t, m.Arn, "b", "3", "c", "")
	got, _ := e.listTags(t, m.KeyId, nil)
	if want := []string{"a=2", "b=3", "c="}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	// Missing tag keys are a silent no-op.
	if _, err := e.svc.UntagResource(e.root, &kmsv1.UntagResourceRequest{KeyId: m.KeyId, TagKeys: []string{"c", "nope"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UntagResource(e.root, &kmsv1.UntagResourceRequest{KeyId: m.KeyId, TagKeys: []string{"nope"}}); err != nil {
		t.Fatal(err)
	}
	got, _ = e.listTags(t, m.KeyId, nil)
	if want := []string{"a=2", "b=3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	// A key without tags lists an empty page; a key pending deletion still lists.
	other := e.createKey(t)
	r, err := e.svc.ListResourceTags(e.root, &kmsv1.ListResourceTagsRequest{KeyId: other.KeyId})
	if err != nil || len(r.Tags) != 0 || r.Truncated {
		t.Fatalf("empty list: %v %v", r, err)
	}
	e.apply(t, &fsm.ScheduleKeyDeletion{KeyID: m.KeyId, DeletionDate: 1, PendingWindowInDays: 7})
	if got, _ = e.listTags(t, m.KeyId, nil); len(got) != 2 {
		t.Fatalf("pending deletion lists %v", got)
	}
	// Tags given to CreateKey list sorted too.
	c, err := e.svc.CreateKey(e.root, &kmsv1.CreateKeyRequest{Tags: tags("z", "1", "y", "2")})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ = e.listTags(t, c.KeyMetadata.KeyId, nil); !reflect.DeepEqual(got, []string{"y=2", "z=1"}) {
		t.Fatalf("CreateKey tags list %v", got)
	}
}

func TestListResourceTagsPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	var kv, want []string
	for i := range 50 {
		k := fmt.Sprintf("t%02d", 49-i)
		kv = append(kv, k, "v")
	}
	for i := range 50 {
		want = append(want, fmt.Sprintf("t%02d=v", i))
	}
	e.tag(t, m.KeyId, kv...)
	for _, tc := range []struct {
		limit *int32
		pages int
	}{{nil, 1}, {i32(50), 1}, {i32(7), 8}, {i32(1), 50}, {i32(25), 2}} {
		got, pages := e.listTags(t, m.KeyId, tc.limit)
		if !reflect.DeepEqual(got, want) || pages != tc.pages {
			t.Fatalf("limit %v: %d pages %v", tc.limit, pages, got)
		}
	}
	for _, l := range []int32{0, 51, -1} {
		_, err := e.svc.ListResourceTags(e.root, &kmsv1.ListResourceTagsRequest{KeyId: m.KeyId, Limit: i32(l)})
		wantType(t, err, wire.Validation)
	}
	_, err := e.svc.ListResourceTags(e.root, &kmsv1.ListResourceTagsRequest{KeyId: m.KeyId, Marker: "not a marker!"})
	wantType(t, err, wire.InvalidMarker)
	_, err = e.svc.ListResourceTags(e.root, &kmsv1.ListResourceTagsRequest{KeyId: "alias/x"})
	wantError(t, err, wire.InvalidArn, "Key Aliases are not supported for this operation.")
	_, err = e.svc.ListResourceTags(e.root, &kmsv1.ListResourceTagsRequest{KeyId: "11111111-2222-3333-4444-555555555555"})
	wantType(t, err, wire.NotFound)
}

// The tag operations need kms:TagResource, kms:UntagResource and
// kms:ListResourceTags from the key policy (or IAM through it); bob has
// neither.
func TestTagOperationsAreAuthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	e.tag(t, m.KeyId, "a", "1")
	before := snapshot(t, e.fsm)
	_, err := e.svc.TagResource(e.bob, &kmsv1.TagResourceRequest{KeyId: m.KeyId, Tags: tags("b", "2")})
	wantError(t, err, wire.AccessDenied, "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:TagResource on resource: "+
		m.Arn+" because no resource-based policy allows the kms:TagResource action")
	_, err = e.svc.UntagResource(e.bob, &kmsv1.UntagResourceRequest{KeyId: m.KeyId, TagKeys: []string{"a"}})
	wantType(t, err, wire.AccessDenied)
	_, err = e.svc.ListResourceTags(e.bob, &kmsv1.ListResourceTagsRequest{KeyId: m.KeyId})
	wantType(t, err, wire.AccessDenied)
	if after := snapshot(t, e.fsm); string(after) != string(before) {
		t.Fatal("a denied tag request changed the state")
	}
}

// Two TagResource calls that fit alone but not together: the state
// machine decides against the tags applied before each, so exactly one
// succeeds and the key never has more than 50 tags.
func TestConcurrentTaggingStaysWithinTheLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.createKey(t)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		var kv []string
		for j := range 30 {
			kv = append(kv, fmt.Sprintf("w%d-%02d", i, j), "")
		}
		wg.Go(func() {
			_, errs[i] = e.svc.TagResource(e.root, &kmsv1.TagResourceRequest{KeyId: m.KeyId, Tags: tags(kv...)})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantType(t, err, wire.Tag)
	}
	if got, _ := e.listTags(t, m.KeyId, nil); ok != 1 || len(got) != 30 {
		t.Fatalf("%d succeeded, key has %d tags", ok, len(got))
	}
}
