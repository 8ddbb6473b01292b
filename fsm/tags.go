package fsm

import (
	"errors"
	"slices"
	"strings"

	"github.com/trentkms/trent/wire"
)

// MaxTagsPerKey is how many tags a key may have (AWS: 50). TagResource
// checks it at apply time against the key's current tags, so tagging
// through two nodes at once cannot pass it.
const MaxTagsPerKey = 50

// TagResource adds tags to a key or replaces the values of tags it has.
// The key must not be pending deletion, and the merged tags may not
// number more than MaxTagsPerKey.
type TagResource struct {
	KeyID string `json:"key_id"`
	Tags  []Tag  `json:"tags"`
}

func (*TagResource) Op() Op { return OpTagResource }

// validate requires the key id; the tags' rules (a non-empty list, key
// and value lengths) are the proposer's, as CreateKey's are.
func (c *TagResource) validate() error {
	if c.KeyID == "" {
		return errors.New("no key id")
	}
	return nil
}

func (c *TagResource) apply(f *FSM, _ uint64) *Result {
	return f.updateKey(c.KeyID, func(k *Key) *Rejection {
		if r := notPendingDeletion(k); r != nil {
			return r
		}
		for _, t := range c.Tags {
			if i := slices.IndexFunc(k.Tags, func(o Tag) bool { return o.Key == t.Key }); i >= 0 {
				k.Tags[i].Value = t.Value
			} else {
				k.Tags = append(k.Tags, t)
			}
		}
		if len(k.Tags) > MaxTagsPerKey {
			return reject(wire.Tag, "Too many tags: a key can have at most 50 tags.")
		}
		sortTags(k.Tags)
		return nil
	})
}

// UntagResource removes tags from a key; a tag key the key does not have
// is ignored. The key must not be pending deletion.
type UntagResource struct {
	KeyID   string   `json:"key_id"`
	TagKeys []string `json:"tag_keys"`
}

func (*UntagResource) Op() Op { return OpUntagResource }

func (c *UntagResource) validate() error {
	if c.KeyID == "" {
		return errors.New("no key id")
	}
	return nil
}

func (c *UntagResource) apply(f *FSM, _ uint64) *Result {
	return f.updateKey(c.KeyID, func(k *Key) *Rejection {
		if r := notPendingDeletion(k); r != nil {
			return r
		}
		k.Tags = slices.DeleteFunc(k.Tags, func(t Tag) bool { return slices.Contains(c.TagKeys, t.Key) })
		if len(k.Tags) == 0 {
			k.Tags = nil
		}
		sortTags(k.Tags)
		return nil
	})
}

// sortTags orders tags by key, the order ListResourceTags lists them in.
func sortTags(tags []Tag) {
	slices.SortFunc(tags, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
}

// SortedTags returns a copy of k's tags ordered by key (CreateKey keeps
// the order of its request).
func (k *Key) SortedTags() []Tag {
	out := slices.Clone(k.Tags)
	sortTags(out)
	return out
}
