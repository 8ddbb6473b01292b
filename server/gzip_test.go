package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCappedReaderStopsAtTheCap: a message within the cap inflates whole;
// a larger one fails right after the cap instead of being inflated to the
// end (connect would discard the rest by inflating it).
func TestCappedReaderStopsAtTheCap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		max      int64
		wantRead int64
		wantErr  error
	}{
		{"within the cap", 1000, 1000, 1000, nil},
		// connect reads max+1 bytes to see that a message is too large.
		{"one byte over", 1001, 1000, 1001, nil},
		{"two bytes over", 1002, 1000, 1001, errInflated},
		{"bomb", 8 << 20, 1 << 10, 1<<10 + 1, errInflated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &cappedReader{max: tc.max + 1}
			for range 2 { // and again after Reset, as connect's pool does
				if err := r.Reset(bytes.NewReader(gzipped(t, make([]byte, tc.size)))); err != nil {
					t.Fatal(err)
				}
				n, err := io.Copy(io.Discard, r)
				if n != tc.wantRead || !errors.Is(err, tc.wantErr) {
					t.Fatalf("read %d, %v; want %d, %v", n, err, tc.wantRead, tc.wantErr)
				}
			}
			if err := r.Reset(bytes.NewReader([]byte("not gzip"))); err == nil {
				t.Fatal("Reset accepted a body that is not gzip")
			}
			if _, err := r.Read(make([]byte, 1)); err == nil {
				t.Fatal("Read after a failed Reset succeeded")
			}
		})
	}
}
