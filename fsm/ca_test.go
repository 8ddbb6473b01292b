package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/trentkms/trent/wire"
)

// RotateCA replaces the CA and keeps the old one trusted for the overlap
// (presented for its first half); a rotation during an overlap, a short
// overlap or an uninitialized cluster are refused and change nothing;
// a rotation after the overlap drops the CA before.
func TestRotateCA(t *testing.T) {
	t.Parallel()
	const day = int64(86400000)
	rotate := func(cert string, now, overlap int64) Command {
		return &RotateCA{CACert: []byte(cert), CAKey: SealedSecret{KeyID: "k-" + cert, Sealed: []byte("sealed-" + cert)}, Now: now, Overlap: overlap}
	}
	refused := func(t *testing.T, r *Result, name string) {
		t.Helper()
		var rej *Rejection
		if !errors.As(r.Err, &rej) || rej.Type != name {
			t.Fatalf("got %v, want a %s rejection", r.Err, name)
		}
	}
	t.Run("not initialized", func(t *testing.T) {
		refused(t, applyAll(t, New(), rotate("ca2", 1000, day))[0], wire.KMSInvalidState)
	})
	f := New()
	applyAll(t, f, &InitCluster{Info: ClusterInfo{ID: "c1", CACert: []byte("ca1"), CAKeySealed: []byte("sealed-ca1")}})
	before := f.Cluster()
	t.Run("overlap too short", func(t *testing.T) {
		refused(t, applyAll(t, f, rotate("ca2", 1000, 1000))[0], wire.Validation)
		refused(t, applyAll(t, f, &RotateCA{Now: 1000, Overlap: day})[0], wire.Validation)
		if string(f.Cluster().CACert) != "ca1" {
			t.Fatal("a refused rotation changed the CA")
		}
	})
	t.Run("rotated", func(t *testing.T) {
		if r := applyAll(t, f, rotate("ca2", 1000, day))[0]; r.Err != nil {
			t.Fatal(r.Err)
		}
		info := f.Cluster()
		if string(info.CACert) != "ca2" || info.CAKeyID != "k-ca2" || string(info.CAKeySealed) != "sealed-ca2" {
			t.Fatalf("CA after rotation: %+v", info)
		}
		want := []PreviousCA{{Cert: []byte("ca1"), SwitchAt: 1000 + day/2, Until: 1000 + day}}
		if len(info.PreviousCAs) != 1 || !bytes.Equal(info.PreviousCAs[0].Cert, want[0].Cert) || info.PreviousCAs[0].SwitchAt != want[0].SwitchAt || info.PreviousCAs[0].Until != want[0].Until {
			t.Fatalf("previous CAs %+v, want %+v", info.PreviousCAs, want)
		}
		if string(before.CACert) != "ca1" || before.PreviousCAs != nil {
			t.Fatal("the published cluster info changed")
		}
		if r := applyAll(t, f, rotate("ca2", 2000, day))[0]; r.Err != nil || string(f.Cluster().PreviousCAs[0].Cert) != "ca1" {
			t.Fatalf("the same rotation again: %v, %+v", r.Err, f.Cluster().PreviousCAs)
		}
	})
	t.Run("again during the overlap", func(t *testing.T) {
		refused(t, applyAll(t, f, rotate("ca3", 1000+day-1, day))[0], wire.Conflict)
		if string(f.Cluster().CACert) != "ca2" {
			t.Fatal("a refused rotation changed the CA")
		}
	})
	t.Run("again after the overlap", func(t *testing.T) {
		if r := applyAll(t, f, rotate("ca3", 1000+day, day))[0]; r.Err != nil {
			t.Fatal(r.Err)
		}
		info := f.Cluster()
		if string(info.CACert) != "ca3" || len(info.PreviousCAs) != 1 || string(info.PreviousCAs[0].Cert) != "ca2" {
			t.Fatalf("after a second rotation: CA %q, previous %+v", info.CACert, info.PreviousCAs)
		}
	})
	t.Run("snapshot", func(t *testing.T) {
		g := New()
		if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, f)))); err != nil {
			t.Fatal(err)
		}
		if info := g.Cluster(); string(info.CACert) != "ca3" || len(info.PreviousCAs) != 1 || info.PreviousCAs[0].Until != 1000+2*day {
			t.Fatalf("restored: %+v", info)
		}
	})
}

// The trust set, the presented CA and the next change follow the
// rotation's times, at their edges.
func TestCATimes(t *testing.T) {
	t.Parallel()
	info := &ClusterInfo{CACert: []byte("new"), PreviousCAs: []PreviousCA{{Cert: []byte("old"), SwitchAt: 1500, Until: 2000}}}
	ms := func(n int64) time.Time { return time.UnixMilli(n) }
	for _, tc := range []struct {
		at        int64
		trusted   string
		presented string
		next      int64
	}{
		{at: 1000, trusted: "new,old", presented: "old", next: 1500},
		{at: 1499, trusted: "new,old", presented: "old", next: 1500},
		{at: 1500, trusted: "new,old", presented: "new", next: 2000},
		{at: 1999, trusted: "new,old", presented: "new", next: 2000},
		{at: 2000, trusted: "new", presented: "new", next: 0},
	} {
		t.Run(fmt.Sprint(tc.at), func(t *testing.T) {
			if got := string(bytes.Join(info.TrustedCAs(ms(tc.at)), []byte(","))); got != tc.trusted {
				t.Errorf("trusted %q, want %q", got, tc.trusted)
			}
			if got := string(info.PresentedCA(ms(tc.at))); got != tc.presented {
				t.Errorf("presented %q, want %q", got, tc.presented)
			}
			next := info.NextCAChange(ms(tc.at))
			if (tc.next == 0) != next.IsZero() || (tc.next != 0 && next.UnixMilli() != tc.next) {
				t.Errorf("next change %v, want %d", next, tc.next)
			}
		})
	}
}
