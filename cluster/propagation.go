package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	"github.com/trentkms/trent/fsm"
	clusterv1 "github.com/trentkms/trent/gen/trent/cluster/v1"
	"github.com/trentkms/trent/identity"
)

// SetPropagation sets or clears the cluster-wide simulated propagation
// delay (fsm.SetPropagation; docs/eventual-consistency.md). Only the
// admin account's root may; the command goes to the leader like any
// write, with this node's time.
func (s *service) SetPropagation(ctx context.Context, req *clusterv1.SetPropagationRequest) (*clusterv1.SetPropagationResponse, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	cmd, err := propagationCommand(req)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	cmd.Propagation.SetAt = s.c.cfg.Now().UnixMilli()
	if p, ok := identity.FromContext(ctx); ok {
		cmd.Propagation.SetBy = p.ARN
	}
	_, idx, err := fsm.Apply(ctx, s.c, cmd)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	s.c.cfg.Logger.Info("cluster-wide simulated propagation set", "delay", req.GetDelay(), "jitter", req.GetJitter(),
		"accounts", req.GetAccounts(), "clear", req.GetClear(), "by", cmd.Propagation.SetBy)
	return &clusterv1.SetPropagationResponse{Index: idx}, nil
}

// propagationCommand checks a request and returns its command.
func propagationCommand(req *clusterv1.SetPropagationRequest) (*fsm.SetPropagation, error) {
	if req.GetClear() {
		if req.GetDelay() != "" || req.GetJitter() != "" || len(req.GetAccounts()) > 0 {
			return nil, errors.New("clear takes no delay, jitter or accounts")
		}
		return &fsm.SetPropagation{Clear: true}, nil
	}
	limit := time.Duration(fsm.MaxPropagationMillis) * time.Millisecond
	parse := func(name, v string) (time.Duration, error) {
		if v == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > limit {
			return 0, fmt.Errorf("%s %q must be a duration between 0s and %s, such as 2s", name, v, limit)
		}
		return d, nil
	}
	if req.GetDelay() == "" {
		return nil, errors.New("delay is required (0s turns the mode off on every node)")
	}
	delay, err := parse("delay", req.GetDelay())
	if err != nil {
		return nil, err
	}
	jitter, err := parse("jitter", req.GetJitter())
	if err != nil {
		return nil, err
	}
	for _, a := range req.GetAccounts() {
		if !identity.ValidAccountID(a) {
			return nil, fmt.Errorf("account %q is not a 12-digit account id", a)
		}
	}
	return &fsm.SetPropagation{Propagation: fsm.Propagation{DelayMillis: delay.Milliseconds(), JitterMillis: jitter.Milliseconds(),
		Accounts: req.GetAccounts()}}, nil
}

// propagationStatus describes a cluster-wide setting for Status.
func propagationStatus(p fsm.Propagation) *clusterv1.Propagation {
	return &clusterv1.Propagation{Delay: (time.Duration(p.DelayMillis) * time.Millisecond).String(),
		Jitter: (time.Duration(p.JitterMillis) * time.Millisecond).String(), Accounts: p.Accounts,
		SetAt: time.UnixMilli(p.SetAt).UTC().Format(time.RFC3339), SetBy: p.SetBy}
}
