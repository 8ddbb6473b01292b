package kms

import (
	"context"
	"slices"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// TagResource adds tags to a key or replaces the values of tags it has. The
// key is named by key id or key ARN, never by alias. Whether the merged
// tags fit in fsm.MaxTagsPerKey is decided at apply time.
func (s *Service) TagResource(ctx context.Context, req *kmsv1.TagResourceRequest) (*kmsv1.TagResourceResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if len(req.GetTags()) == 0 {
		return nil, validation("Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	tags, err := validateTags(req.GetTags())
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKeyForWrite(ctx, p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeRequest(ctx, &AuthzRequest{Principal: p, Action: "kms:TagResource", Key: k, RequestTags: tags}); err != nil {
		return nil, err
	}
	if _, err := s.propose(ctx, &fsm.TagResource{KeyID: k.ID, Tags: tags}); err != nil {
		return nil, err
	}
	return &kmsv1.TagResourceResponse{}, nil
}

// UntagResource removes tags from a key; a tag key the key does not have
// is ignored.
func (s *Service) UntagResource(ctx context.Context, req *kmsv1.UntagResourceRequest) (*kmsv1.UntagResourceResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	keys := req.GetTagKeys()
	if len(keys) == 0 {
		return nil, validation("Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	}
	for i, k := range keys {
		if len(k) < 1 || len(k) > 128 {
			return nil, validation("Value '%s' at 'tagKeys.%d.member' failed to satisfy constraint: Member must have length between 1 and 128", k, i+1)
		}
	}
	k, err := s.resolveKeyForWrite(ctx, p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeRequest(ctx, &AuthzRequest{Principal: p, Action: "kms:UntagResource", Key: k, TagKeys: keys}); err != nil {
		return nil, err
	}
	if _, err := s.propose(ctx, &fsm.UntagResource{KeyID: k.ID, TagKeys: slices.Clone(keys)}); err != nil {
		return nil, err
	}
	return &kmsv1.UntagResourceResponse{}, nil
}

// ListResourceTags lists a key's tags in tag-key order, Limit (1-50,
// default 50) at a time. It works in every key state.
func (s *Service) ListResourceTags(ctx context.Context, req *kmsv1.ListResourceTagsRequest) (*kmsv1.ListResourceTagsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(req.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	after, err := decodeMarker(req.GetMarker())
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKey(p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "kms:ListResourceTags", k, nil); err != nil {
		return nil, err
	}
	tags := k.SortedTags()
	start := 0
	if req.GetMarker() != "" {
		start, _ = slices.BinarySearchFunc(tags, after, func(t fsm.Tag, key string) int {
			switch {
			case t.Key < key:
				return -1
			case t.Key > key:
				return 1
			}
			return 0
		})
		if start < len(tags) && tags[start].Key == after {
			start++
		}
	}
	tags = tags[start:]
	resp := &kmsv1.ListResourceTagsResponse{Tags: []*kmsv1.Tag{}}
	if len(tags) > limit {
		tags = tags[:limit]
		resp.Truncated = true
		resp.NextMarker = encodeMarker(tags[len(tags)-1].Key)
	}
	for _, t := range tags {
		resp.Tags = append(resp.Tags, &kmsv1.Tag{TagKey: t.Key, TagValue: t.Value})
	}
	return resp, nil
}
