package audit

import (
	"context"
	"time"
)

// ServiceEvent is an action the service took by itself rather than on a
// caller's request: the leader's automatic rotation of a key whose period
// passed (RotateKey) and its deletion of a key whose waiting period ended
// (DeleteKey). CloudTrail records these as AwsServiceEvent records invoked
// by kms.amazonaws.com; so does the trail of the node whose pass proposed
// them, once the command applied.
type ServiceEvent struct {
	// Operation is the event name: RotateKey or DeleteKey.
	Operation string
	// KeyARN is the key acted on, and Account its account.
	KeyARN, Account string
	// AppliedIndex is the raft index at which the command applied.
	AppliedIndex uint64
}

// RecordServiceEvent appends the record of e and returns once it is
// durable.
func (l *Log) RecordServiceEvent(ctx context.Context, e ServiceEvent) error {
	eventID, err := newUUID(l.opts.Rand)
	if err != nil {
		return err
	}
	reqID, err := newUUID(l.opts.Rand)
	if err != nil {
		return err
	}
	r := &Record{
		EventVersion:     EventVersion,
		UserIdentity:     UserIdentity{Type: "AWSService", AccountID: e.Account, InvokedBy: SourceKMS},
		EventTime:        l.opts.Now().UTC().Format(time.RFC3339),
		EventSource:      SourceKMS,
		EventName:        e.Operation,
		AWSRegion:        l.opts.Region,
		SourceIPAddress:  SourceKMS,
		UserAgent:        SourceKMS,
		RequestID:        reqID,
		EventID:          eventID,
		Resources:        []Resource{{AccountID: e.Account, Type: "AWS::KMS::Key", ARN: e.KeyARN}},
		EventType:        "AwsServiceEvent",
		ManagementEvent:  true,
		EventCategory:    "Management",
		RecipientAccount: e.Account,
		Trent:            Trent{ServedBy: l.opts.NodeID, AppliedIndex: e.AppliedIndex},
	}
	return l.Append(ctx, r)
}
