package cli

import (
	"context"
	"fmt"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
)

// fakeRotation is a fake key's rotation state.
type fakeRotation struct {
	period    *int32
	rotations []*kmsv1.RotationsListEntry
}

// rotationOf returns the rotation state of a key; the caller holds f.mu.
func (f *fakeKMS) rotationOf(keyID string) (*kmsv1.KeyMetadata, *fakeRotation, error) {
	k, err := f.key(keyID)
	if err != nil {
		return nil, nil, err
	}
	if f.rotation == nil {
		f.rotation = map[string]*fakeRotation{}
	}
	r := f.rotation[k.KeyId]
	if r == nil {
		r = &fakeRotation{}
		f.rotation[k.KeyId] = r
	}
	return k, r, nil
}

func (f *fakeKMS) EnableKeyRotation(_ context.Context, req *kmsv1.EnableKeyRotationRequest) (*kmsv1.EnableKeyRotationResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, r, err := f.rotationOf(req.KeyId)
	if err != nil {
		return nil, err
	}
	period := int32(365)
	if req.RotationPeriodInDays != nil {
		period = *req.RotationPeriodInDays
	}
	r.period = &period
	return &kmsv1.EnableKeyRotationResponse{}, nil
}

func (f *fakeKMS) DisableKeyRotation(_ context.Context, req *kmsv1.DisableKeyRotationRequest) (*kmsv1.DisableKeyRotationResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, r, err := f.rotationOf(req.KeyId)
	if err != nil {
		return nil, err
	}
	r.period = nil
	return &kmsv1.DisableKeyRotationResponse{}, nil
}

func (f *fakeKMS) GetKeyRotationStatus(_ context.Context, req *kmsv1.GetKeyRotationStatusRequest) (*kmsv1.GetKeyRotationStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, r, err := f.rotationOf(req.KeyId)
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.GetKeyRotationStatusResponse{KeyId: k.KeyId}
	if r.period != nil {
		next := fakeDate + float64(*r.period)*86400
		resp.KeyRotationEnabled, resp.RotationPeriodInDays, resp.NextRotationDate = true, r.period, &next
	}
	return resp, nil
}

func (f *fakeKMS) RotateKeyOnDemand(_ context.Context, req *kmsv1.RotateKeyOnDemandRequest) (*kmsv1.RotateKeyOnDemandResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, r, err := f.rotationOf(req.KeyId)
	if err != nil {
		return nil, err
	}
	for _, old := range r.rotations {
		old.KeyMaterialState = "NON_CURRENT"
	}
	r.rotations = append(r.rotations, &kmsv1.RotationsListEntry{KeyId: k.KeyId, KeyMaterialId: fmt.Sprintf("%064x", len(r.rotations)+1),
		RotationDate: fakeDate + float64(len(r.rotations)+1), RotationType: "ON_DEMAND", KeyMaterialState: "CURRENT"})
	return &kmsv1.RotateKeyOnDemandResponse{KeyId: k.KeyId}, nil
}

func (f *fakeKMS) ListKeyRotations(_ context.Context, req *kmsv1.ListKeyRotationsRequest) (*kmsv1.ListKeyRotationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, r, err := f.rotationOf(req.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsv1.ListKeyRotationsResponse{Rotations: r.rotations}, nil
}
