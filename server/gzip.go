package server

import (
	"compress/gzip"
	"errors"
	"io"

	"connectrpc.com/connect"
)

// errInflated ends the inflation of a message that outgrew its cap.
var errInflated = errors.New("the decompressed message is larger than this operation accepts")

// cappedGzip is the Connect gzip option of a route whose messages are at
// most max bytes: connect stops collecting at the cap, but then inflates
// the rest to discard it (to report the size); this decompressor stops
// instead, so that a small compressed body costs no more CPU than a
// message of the cap.
func cappedGzip(max int64) connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &cappedReader{max: max + 1} },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) })
}

// cappedReader inflates gzip and fails after max bytes.
type cappedReader struct {
	max, n int64
	zr     *gzip.Reader
	err    error // from Reset
}

func (c *cappedReader) Read(p []byte) (int, error) {
	switch {
	case c.err != nil:
		return 0, c.err
	case c.n >= c.max:
		return 0, errInflated
	case int64(len(p)) > c.max-c.n:
		p = p[:c.max-c.n]
	}
	n, err := c.zr.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *cappedReader) Reset(r io.Reader) error {
	c.n, c.err = 0, nil
	if c.zr == nil {
		zr, err := gzip.NewReader(r)
		if err != nil {
			c.err = err
			return err
		}
		c.zr = zr
		return nil
	}
	if err := c.zr.Reset(r); err != nil {
		c.err = err
		return err
	}
	return nil
}

func (c *cappedReader) Close() error {
	if c.zr == nil {
		return nil
	}
	return c.zr.Close()
}
