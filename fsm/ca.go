package fsm

import (
	"bytes"
	"fmt"
	"time"

	"github.com/trentkms/trent/wire"
)

// PreviousCA is a cluster CA that a rotation replaced and that the
// cluster still trusts during the rotation's overlap (see RotateCA).
type PreviousCA struct {
	// Cert is the CA certificate (PEM).
	Cert []byte `json:"cert"`
	// SwitchAt (Unix milliseconds) is when nodes stop presenting
	// certificates this CA issued: they renew from the new CA then.
	SwitchAt int64 `json:"switch_at"`
	// Until (Unix milliseconds) is the end of the overlap: from then on no
	// node trusts this CA, and certificates it issued are refused.
	Until int64 `json:"until"`
}

// RotateCA replaces the cluster CA (trent cluster rotate-ca). The new CA
// issues every certificate from the moment the command applies; the old
// one stays trusted for Overlap, and nodes keep presenting the
// certificates it issued for the first half of it, so that clients that
// trust only the old CA go on working while operators hand out the new
// bundle. At most one rotation overlaps at a time: a second one during an
// overlap is refused with ConflictException.
type RotateCA struct {
	// CACert and CAKey are the new CA, its key sealed as InitCluster's.
	CACert []byte       `json:"ca_cert"`
	CAKey  SealedSecret `json:"ca_key"`
	// Now is the proposer's clock (Unix milliseconds); Overlap the overlap
	// in milliseconds.
	Now     int64 `json:"now"`
	Overlap int64 `json:"overlap"`
}

// MinCAOverlap is the shortest overlap RotateCA accepts: nodes check
// their certificates every few minutes, and need the first half of it to
// move to the new CA while the old one is still trusted.
const MinCAOverlap = time.Minute

func (*RotateCA) Op() Op { return OpRotateCA }

func (c *RotateCA) validate() error { return nil }

func (c *RotateCA) apply(f *FSM, _ uint64) *Result {
	cs := f.cluster
	if cs.info == nil {
		return &Result{Err: reject(wire.KMSInvalidState, "the cluster is not initialized")}
	}
	if len(c.CACert) == 0 || len(c.CAKey.Sealed) == 0 || c.Now <= 0 {
		return &Result{Err: reject(wire.Validation, "A CA rotation needs the new CA's certificate and sealed key, and the time.")}
	}
	if c.Overlap < MinCAOverlap.Milliseconds() {
		return &Result{Err: reject(wire.Validation, fmt.Sprintf("The overlap must be at least %s.", MinCAOverlap))}
	}
	if bytes.Equal(c.CACert, cs.info.CACert) {
		return &Result{}
	}
	if rej := f.retiredEKT(c.CAKey.EKT); rej != nil {
		return &Result{Err: rej}
	}
	for _, p := range cs.info.PreviousCAs {
		if p.Until > c.Now {
			return &Result{Err: reject(wire.Conflict, fmt.Sprintf("A CA rotation is in its overlap until %s; rotate again after that.",
				time.UnixMilli(p.Until).UTC().Format(time.RFC3339)))}
		}
	}
	info := *cs.info
	// Earlier rotations' CAs are past their overlap: dropped.
	info.PreviousCAs = []PreviousCA{{Cert: info.CACert, SwitchAt: c.Now + c.Overlap/2, Until: c.Now + c.Overlap}}
	info.CACert = c.CACert
	info.CAKeyID, info.CAKeyVersion, info.CAKeyEKT, info.CAKeyNonce, info.CAKeySealed =
		c.CAKey.KeyID, c.CAKey.Version, c.CAKey.EKT, c.CAKey.Nonce, c.CAKey.Sealed
	cs.info = &info
	return &Result{}
}

// TrustedCAs returns the certificates (PEM) of the CAs trusted at now:
// the cluster CA first, then those replaced by a rotation whose overlap
// has not ended.
func (i *ClusterInfo) TrustedCAs(now time.Time) [][]byte {
	out := [][]byte{i.CACert}
	for _, p := range i.PreviousCAs {
		if now.UnixMilli() < p.Until {
			out = append(out, p.Cert)
		}
	}
	return out
}

// PresentedCA returns the certificate (PEM) of the CA whose certificates
// nodes present at now: a replaced CA until its rotation's switch time,
// the cluster CA after it.
func (i *ClusterInfo) PresentedCA(now time.Time) []byte {
	for _, p := range i.PreviousCAs {
		if now.UnixMilli() < p.SwitchAt {
			return p.Cert
		}
	}
	return i.CACert
}

// NextCAChange returns the first switch or end of an overlap after now,
// or the zero time if none is ahead.
func (i *ClusterInfo) NextCAChange(now time.Time) time.Time {
	var next int64
	for _, p := range i.PreviousCAs {
		for _, t := range []int64{p.SwitchAt, p.Until} {
			if t > now.UnixMilli() && (next == 0 || t < next) {
				next = t
			}
		}
	}
	if next == 0 {
		return time.Time{}
	}
	return time.UnixMilli(next)
}
