// Package backup is the file format of `trent snapshot save`: a header
// naming the cluster, the applied index and term, and the domain key the
// keys are wrapped under, then an FSM snapshot (fsm.Snapshot.Persist, which
// holds key material only as EKTs), then a SHA-256 checksum of all that
// precedes it:
//
//	"TRENTBAK" | uint32 format version | uint32 header length | header (JSON) | FSM snapshot | SHA-256
//
// Integers are big-endian. A truncated or altered file fails the checksum.
package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

const (
	magic = "TRENTBAK"
	// Version is the format version this package writes and reads.
	Version = 1
	// maxHeader bounds the header length a reader accepts.
	maxHeader = 64 << 10
	prefixLen = len(magic) + 8
)

// ErrFormat is returned for a file that is not a backup this package can
// read, or whose checksum does not match.
var ErrFormat = errors.New("backup: not a valid snapshot file")

// Header describes a backup.
type Header struct {
	Version   uint32    `json:"format_version"`
	ClusterID string    `json:"cluster_id"`
	NodeID    string    `json:"node_id"`
	Applied   uint64    `json:"applied_index"`
	Term      uint64    `json:"term"`
	Created   time.Time `json:"created"`
	// DomainKeyID is the public id of the domain key (hex) every EKT of
	// the snapshot is wrapped under: a restore is refused by an HSM that
	// holds another.
	DomainKeyID string `json:"domain_key_id"`
}

// Write writes a backup of h and the snapshot persist writes to w. The
// checksum goes last: a stream cut short, or persist failing, leaves a
// file that Read refuses.
func Write(w io.Writer, h Header, persist func(io.Writer) error) error {
	h.Version = Version
	hj, err := json.Marshal(h)
	if err != nil {
		return err
	}
	sum := sha256.New()
	mw := io.MultiWriter(w, sum)
	var pre [prefixLen]byte
	copy(pre[:], magic)
	binary.BigEndian.PutUint32(pre[8:], Version)
	binary.BigEndian.PutUint32(pre[12:], uint32(len(hj)))
	if _, err := mw.Write(pre[:]); err != nil {
		return err
	}
	if _, err := mw.Write(hj); err != nil {
		return err
	}
	if err := persist(mw); err != nil {
		return err
	}
	_, err = w.Write(sum.Sum(nil))
	return err
}

// ReadHeader reads the header at the start of r without checking the
// checksum (which needs the whole file): enough to refuse a backup early.
func ReadHeader(r io.Reader) (Header, error) {
	var pre [prefixLen]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return Header{}, fmt.Errorf("%w: short header", ErrFormat)
	}
	if string(pre[:8]) != magic {
		return Header{}, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	if v := binary.BigEndian.Uint32(pre[8:]); v != Version {
		return Header{}, fmt.Errorf("%w: format version %d, this build reads %d", ErrFormat, v, Version)
	}
	n := binary.BigEndian.Uint32(pre[12:])
	if n > maxHeader {
		return Header{}, fmt.Errorf("%w: header of %d bytes", ErrFormat, n)
	}
	hj := make([]byte, n)
	if _, err := io.ReadFull(r, hj); err != nil {
		return Header{}, fmt.Errorf("%w: short header", ErrFormat)
	}
	var h Header
	if err := json.Unmarshal(hj, &h); err != nil {
		return Header{}, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	return h, nil
}

// Read verifies a whole backup, held in memory, and returns its header and
// FSM snapshot.
func Read(data []byte) (Header, []byte, error) {
	if len(data) < prefixLen+sha256.Size {
		return Header{}, nil, fmt.Errorf("%w: too short", ErrFormat)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	r := bytes.NewReader(body)
	h, err := ReadHeader(r)
	if err != nil {
		return Header{}, nil, err
	}
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return Header{}, nil, fmt.Errorf("%w: checksum mismatch (the file is truncated or damaged)", ErrFormat)
	}
	return h, body[len(body)-r.Len():], nil
}
