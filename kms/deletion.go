package kms

import (
	"context"
	"time"

	"github.com/trentkms/trent/fsm"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/wire"
)

// Deletion waiting periods, in days (AWS: 7 to 30, default 30; the API
// model's own bounds on the member are 1 to 365).
const (
	minPendingWindow     = 7
	maxPendingWindow     = 30
	defaultPendingWindow = 30
)

// ScheduleKeyDeletion puts a key in PendingDeletion for PendingWindowInDays
// days (7-30, default 30), from this node's clock; when the window ends,
// the leader deletes the key (DueDeletion). The key is named by key id or
// key ARN only. Whether the key may be scheduled (not already pending
// deletion) is decided at apply time.
func (s *Service) ScheduleKeyDeletion(ctx context.Context, req *kmsv1.ScheduleKeyDeletionRequest) (*kmsv1.ScheduleKeyDeletionResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	days := int32(defaultPendingWindow)
	if req.PendingWindowInDays != nil {
		days = *req.PendingWindowInDays
	}
	switch {
	case days < 1:
		return nil, validation("Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1", days)
	case days > 365:
		return nil, validation("Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 365", days)
	case days < minPendingWindow || days > maxPendingWindow:
		// What AWS answers for a value the model allows but KMS does not.
		return nil, newError(wire.Validation, "PendingWindowInDays must be between %d and %d", minPendingWindow, maxPendingWindow)
	}
	k, err := s.resolveKeyForWrite(ctx, p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeRequest(ctx, &AuthzRequest{Principal: p, Action: "kms:ScheduleKeyDeletion", Key: k, PendingWindowInDays: &days}); err != nil {
		return nil, err
	}
	date := millis(s.now().Add(time.Duration(days) * s.day))
	r, err := s.propose(ctx, &fsm.ScheduleKeyDeletion{KeyID: k.ID, DeletionDate: date, PendingWindowInDays: days})
	if err != nil {
		return nil, err
	}
	return &kmsv1.ScheduleKeyDeletionResponse{KeyId: r.Key.ARN, DeletionDate: seconds(r.Key.DeletionDate),
		KeyState: string(r.Key.State), PendingWindowInDays: r.Key.PendingWindowInDays}, nil
}

// CancelKeyDeletion ends a key's deletion waiting period; the key becomes
// Disabled. A key that is not pending deletion is refused at apply time,
// so a cancel and the leader's deletion never both win.
func (s *Service) CancelKeyDeletion(ctx context.Context, req *kmsv1.CancelKeyDeletionRequest) (*kmsv1.CancelKeyDeletionResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKeyForWrite(ctx, p, req.GetKeyId(), false)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "kms:CancelKeyDeletion", k, nil); err != nil {
		return nil, err
	}
	r, err := s.propose(ctx, &fsm.CancelKeyDeletion{KeyID: k.ID})
	if err != nil {
		return nil, err
	}
	return &kmsv1.CancelKeyDeletionResponse{KeyId: r.Key.ARN}, nil
}

// DueDeletion is the lifecycle task of deletion: for a key pending
// deletion whose DeletionDate is at or before now (the leader's clock), it
// returns the DeleteKey that deletes it; otherwise nil. The state machine
// checks the same again when the command applies.
func (s *Service) DueDeletion(_ context.Context, k *fsm.Key, now time.Time) (fsm.Command, error) {
	if k.State != fsm.PendingDeletion || millis(now) < k.DeletionDate {
		return nil, nil
	}
	return &fsm.DeleteKey{KeyID: k.ID, Now: millis(now), Tombstone: true}, nil
}
