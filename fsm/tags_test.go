package fsm

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"testing"
)

func tagKey(id string, kv ...string) *TagResource {
	c := &TagResource{KeyID: id}
	for i := 0; i < len(kv); i += 2 {
		c.Tags = append(c.Tags, Tag{Key: kv[i], Value: kv[i+1]})
	}
	return c
}

func keyTags(t *testing.T, f *FSM, id string) []Tag {
	t.Helper()
	k, ok := f.Key(id)
	if !ok {
		t.Fatalf("no key %s", id)
	}
	return k.Tags
}

// TagResource overwrites values and keeps tags sorted by key; UntagResource
// of a tag the key does not have changes nothing.
func TestTagResourceOverwritesAndUntagIgnoresMissing(t *testing.T) {
	t.Parallel()
	f := New()
	rs := applyAll(t, f, create("k"), tagKey("k", "b", "1", "a", "2"), tagKey("k", "b", "3", "c", ""),
		&UntagResource{KeyID: "k", TagKeys: []string{"c", "missing"}})
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("command %d refused: %v", i, r.Err)
		}
	}
	if got, want := keyTags(t, f, "k"), []Tag{{"a", "2"}, {"b", "3"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	r := applyAll(t, f, &UntagResource{KeyID: "k", TagKeys: []string{"a", "b"}})[0]
	if r.Err != nil || len(keyTags(t, f, "k")) != 0 {
		t.Fatalf("untag all: %+v, tags %v", r.Err, keyTags(t, f, "k"))
	}
}

// The limit is decided against the key's tags at apply time; a refused
// command changes nothing. Overwriting a tag of a full key is allowed.
func TestTagResourceLimit(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"))
	var kv []string
	for i := range MaxTagsPerKey - 1 {
		kv = append(kv, fmt.Sprintf("t%02d", i), "v")
	}
	if r := applyAll(t, f, tagKey("k", kv...))[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
	before := keyTags(t, f, "k")
	r := applyAll(t, f, tagKey("k", "new1", "", "new2", ""))[0]
	if r.Err == nil || r.Err.Type != "TagException" {
		t.Fatalf("51 tags: %+v", r)
	}
	if !reflect.DeepEqual(keyTags(t, f, "k"), before) {
		t.Fatal("refused TagResource changed the tags")
	}
	for _, c := range []Command{tagKey("k", "new1", "", "t00", "w"), tagKey("k", "t01", "w")} {
		if r := applyAll(t, f, c)[0]; r.Err != nil {
			t.Fatalf("%+v: %v", c, r.Err)
		}
	}
	if n := len(keyTags(t, f, "k")); n != MaxTagsPerKey {
		t.Fatalf("%d tags, want %d", n, MaxTagsPerKey)
	}
	if r := applyAll(t, f, tagKey("k", "one-more", ""))[0]; r.Err == nil || r.Err.Type != "TagException" {
		t.Fatalf("tag past 50: %+v", r)
	}
}

func TestTagsRefusedPendingDeletionOrMissingKey(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), tagKey("k", "a", "1"), &ScheduleKeyDeletion{KeyID: "k", DeletionDate: 1, PendingWindowInDays: 7})
	for _, c := range []Command{tagKey("k", "b", "2"), &UntagResource{KeyID: "k", TagKeys: []string{"a"}}} {
		r := applyAll(t, f, c)[0]
		if r.Err == nil || r.Err.Type != "KMSInvalidStateException" || r.Err.Message != "arn:aws:kms:us-east-1:"+testAccount+":key/k is pending deletion." {
			t.Fatalf("%s on a key pending deletion: %+v", c.Op(), r.Err)
		}
	}
	if got := keyTags(t, f, "k"); !reflect.DeepEqual(got, []Tag{{"a", "1"}}) {
		t.Fatalf("tags %v", got)
	}
	for _, c := range []Command{tagKey("nope", "b", "2"), &UntagResource{KeyID: "nope", TagKeys: []string{"a"}}} {
		if r := applyAll(t, f, c)[0]; r.Err == nil || r.Err.Type != "NotFoundException" {
			t.Fatalf("%s on a missing key: %+v", c.Op(), r.Err)
		}
	}
}

func TestSnapshotKeepsTags(t *testing.T) {
	t.Parallel()
	f := New()
	applyAll(t, f, create("k"), tagKey("k", "z", "1", "a", "2"))
	want := snapshotBytes(t, f)
	g := New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	if got := keyTags(t, g, "k"); !reflect.DeepEqual(got, []Tag{{"a", "2"}, {"z", "1"}}) {
		t.Fatalf("tags after restore %v", got)
	}
}
