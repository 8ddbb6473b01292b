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
	// Counts are what the snapshot holds, counted by the node that saved
	// it (the checksum covers them; a restore counts again and compares),
	// so that inspecting a file needs no state machine.
	Counts Counts `json:"counts"`
}

// Counts are the records of a snapshot, by kind.
type Counts struct {
	Keys              int `json:"keys"`
	Grants            int `json:"grants"`
	Aliases           int `json:"aliases"`
	Users             int `json:"users"`
	AccessKeys        int `json:"access_keys"`
	Roles             int `json:"roles"`
	PrincipalPolicies int `json:"principal_policies"`
	Nodes             int `json:"nodes"`
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

// Verified is a backup whose checksum matched.
type Verified struct {
	Header Header
	// Sum is the file's checksum, its last bytes.
	Sum [sha256.Size]byte
	// Payload is the FSM snapshot (fsm.Snapshot.Persist's format).
	Payload *io.SectionReader
}

// Open verifies the backup of size bytes in r, reading it once to check the
// checksum without holding it in memory.
func Open(r io.ReaderAt, size int64) (*Verified, error) {
	if size < int64(prefixLen+sha256.Size) {
		return nil, fmt.Errorf("%w: too short", ErrFormat)
	}
	body := io.NewSectionReader(r, 0, size-sha256.Size)
	h, err := ReadHeader(body)
	if err != nil {
		return nil, err
	}
	start, _ := body.Seek(0, io.SeekCurrent)
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(r, 0, size-sha256.Size)); err != nil {
		return nil, err
	}
	v := &Verified{Header: h, Payload: io.NewSectionReader(r, start, size-sha256.Size-start)}
	if _, err := r.ReadAt(v.Sum[:], size-sha256.Size); err != nil {
		return nil, err
	}
	if !bytes.Equal(sum.Sum(nil), v.Sum[:]) {
		return nil, fmt.Errorf("%w: checksum mismatch (the file is truncated or damaged)", ErrFormat)
	}
	return v, nil
}

// Read verifies a whole backup held in memory, and returns its header and
// FSM snapshot.
func Read(data []byte) (Header, []byte, error) {
	v, err := Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Header{}, nil, err
	}
	_, off, n := v.Payload.Outer()
	return v.Header, data[off : off+n], nil
}
