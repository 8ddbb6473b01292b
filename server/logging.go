package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/trentkms/trent/audit"
)

// Log formats (--log-format).
const (
	logText = "text"
	logJSON = "json"
)

// newLogger returns the node's logger: format (text or json) to w at
// level, adding the request id to every line logged with a request's
// context.
func newLogger(format string, w io.Writer, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == logJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(requestIDHandler{h})
}

// newRaftLogger returns raft's logger (hclog) in the node's format.
func newRaftLogger(format, level string, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: raftLogLevel(level), Output: w, JSONFormat: format == logJSON})
}

func validLogFormat(format string) error {
	if format != "" && format != logText && format != logJSON {
		return fmt.Errorf("--log-format %q must be text or json", format)
	}
	return nil
}

// requestIDHandler adds request_id, the id the gate gave the request
// (audit.RequestID; the same as its audit record's requestID and its
// response's Trent-Request-Id or x-amzn-RequestId), to every record logged
// with a request's context that does not name it already.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := audit.RequestID(ctx); id != "" {
		named := false
		r.Attrs(func(a slog.Attr) bool {
			named = a.Key == "request_id"
			return !named
		})
		if !named {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// forPeople returns where the text the node prints for people (the
// start-up banner, the dev-mode warning) goes: stderr as it is in the text
// format, and in the JSON format the node's log, each write one record at
// level, so that every line of a JSON log is JSON.
func (s *Server) forPeople(stderr io.Writer, level slog.Level) io.Writer {
	if s.cfg.LogFormat != logJSON {
		return stderr
	}
	return textAsLog{s.log, level}
}

// textAsLog logs each write as one record: its lines joined, the
// asterisk frames of banners dropped.
type textAsLog struct {
	log   *slog.Logger
	level slog.Level
}

func (w textAsLog) Write(p []byte) (int, error) {
	var parts []string
	for _, l := range strings.Split(string(p), "\n") {
		if l = strings.Trim(l, " *"); l != "" {
			parts = append(parts, l)
		}
	}
	if len(parts) > 0 {
		w.log.Log(context.Background(), w.level, strings.Join(parts, " "))
	}
	return len(p), nil
}
