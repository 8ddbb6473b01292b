package awsapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trentkms/trent/audit"
	"github.com/trentkms/trent/awsapi"
)

// fakeAuditor keeps the calls it is given; fail makes Record fail.
type fakeAuditor struct {
	mu    sync.Mutex
	calls []audit.Call
	fail  bool
}

func (a *fakeAuditor) Record(_ context.Context, c *audit.Call) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, *c)
	if a.fail {
		return errors.New("disk full")
	}
	return nil
}

func (a *fakeAuditor) CallRefused(ctx context.Context, logger *slog.Logger, err error, msg string, args ...any) {
	logger.ErrorContext(ctx, msg, append(args, "err", err)...)
}

func (a *fakeAuditor) take() []audit.Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls
	a.calls = nil
	return c
}

func TestAuditOneRecordPerRequest(t *testing.T) {
	aud := &fakeAuditor{}
	s := newServer(t, newService(t), awsapi.Options{Audit: aud})
	now := time.Now()
	signed := func(target, body string) *http.Request {
		return s.rawRequest(t, target, body, rootKeyID, rootSecret, now)
	}

	tests := []struct {
		name    string
		req     func() *http.Request
		op      string
		errCode string
		keyID   string // accessKeyId recorded
		signed  bool   // principal known
	}{
		{"allowed", func() *http.Request { return signed("TrentService.CreateKey", "{}") }, "CreateKey", "", rootKeyID, true},
		{"service error", func() *http.Request {
			return signed("TrentService.DescribeKey", `{"KeyId":"11111111-2222-3333-4444-555555555555"}`)
		}, "DescribeKey", "NotFoundException", rootKeyID, true},
		{"denied", func() *http.Request {
			return s.rawRequest(t, "TrentService.CreateKey", "{}", bobKeyID, bobSecret, now)
		}, "CreateKey", "AccessDeniedException", bobKeyID, true},
		{"wrong secret", func() *http.Request {
			return s.rawRequest(t, "TrentService.ListKeys", "{}", rootKeyID, "wrong", now)
		}, "ListKeys", "InvalidSignatureException", rootKeyID, false},
		{"unknown key", func() *http.Request {
			return s.rawRequest(t, "TrentService.ListKeys", "{}", "AKIANOSUCHKEY0000000", "x", now)
		}, "ListKeys", "UnrecognizedClientException", "AKIANOSUCHKEY0000000", false},
		{"unsigned", func() *http.Request {
			r := signed("TrentService.ListKeys", "{}")
			r.Header.Del("Authorization")
			return r
		}, "ListKeys", "MissingAuthenticationTokenException", "", false},
		{"unknown operation", func() *http.Request { return signed("TrentService.Frobnicate", "{}") }, "Frobnicate", "UnknownOperationException", rootKeyID, true},
		{"malformed JSON", func() *http.Request {
			return signed("TrentService.Encrypt", `{"Plaintext":"c2VjcmV0!`)
		}, "Encrypt", "SerializationException", rootKeyID, true},
		{"wrong content type", func() *http.Request {
			r := signed("TrentService.ListKeys", "{}")
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, "ListKeys", "SerializationException", rootKeyID, false},
		{"wrong method", func() *http.Request {
			r := signed("TrentService.ListKeys", "")
			r.Method = http.MethodGet
			return r
		}, "ListKeys", "UnknownOperationException", rootKeyID, false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			resp := s.do(t, tt.req())
			calls := aud.take()
			if len(calls) != 1 {
				t.Fatalf("%d records, want 1", len(calls))
			}
			c := calls[0]
			if c.Operation != tt.op || c.ErrorCode != tt.errCode || c.AccessKeyID != tt.keyID || c.Principal.IsZero() == tt.signed ||
				c.Protocol != audit.ProtocolAWSJSON || c.Source != audit.SourceKMS || c.RequestID != resp.header.Get(awsapi.RequestIDHeader) {
				t.Fatalf("recorded %+v", c)
			}
			if tt.errCode == "" && (c.Input == nil || c.Output == nil || c.AppliedIndex == 0) {
				t.Fatalf("allowed CreateKey recorded without input, output or applied index: %+v", c)
			}
		})
	}
}

func TestAuditFailureAnswersInternalError(t *testing.T) {
	aud := &fakeAuditor{fail: true}
	s := newServer(t, newService(t), awsapi.Options{Audit: aud})
	resp := s.do(t, s.rawRequest(t, "TrentService.GenerateRandom", `{"NumberOfBytes":32}`, rootKeyID, rootSecret, time.Now()))
	resp.wantError(t, http.StatusInternalServerError, "KMSInternalException")
	if _, ok := resp.json["Plaintext"]; ok {
		t.Fatal("the result was sent without an audit record")
	}
	if n := len(aud.take()); n != 1 {
		t.Fatalf("%d record attempts", n)
	}
}
