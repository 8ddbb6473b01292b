package awsapi_test

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trentkms/trent/awsapi"
	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
)

// Raw requests: the exact AWS JSON 1.1 shapes, headers and status codes.

func TestRawProtocolErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, newService(t), awsapi.Options{MaxBodyBytes: 4096})
	now := time.Now()
	signed := func(target, body string) *http.Request {
		return srv.rawRequest(t, target, body, rootKeyID, rootSecret, now)
	}
	tests := []struct {
		name    string
		req     func() *http.Request
		status  int
		typ     string
		message string // a substring of the message
	}{
		{"unknown_target", func() *http.Request { return signed("TrentService.Nope", "{}") },
			400, "UnknownOperationException", "'TrentService.Nope' is not an operation"},
		{"foreign_target_prefix", func() *http.Request { return signed("DynamoDB_20120810.ListTables", "{}") },
			400, "UnknownOperationException", "TrentService.<Operation>"},
		{"no_target", func() *http.Request { return signed("", "{}") },
			400, "UnknownOperationException", "no X-Amz-Target"},
		{"malformed_json", func() *http.Request { return signed("TrentService.Encrypt", `{"KeyId":`) },
			400, "SerializationException", "Encrypt request body"},
		{"wrong_member_type", func() *http.Request { return signed("TrentService.Encrypt", `{"KeyId":5}`) },
			400, "SerializationException", "KeyId"},
		{"window_not_a_number", func() *http.Request {
			return signed("TrentService.ScheduleKeyDeletion", `{"KeyId":"k","PendingWindowInDays":"seven"}`)
		}, 400, "SerializationException", "PendingWindowInDays"},
		{"bad_base64", func() *http.Request { return signed("TrentService.Encrypt", `{"Plaintext":"!!"}`) },
			400, "SerializationException", "Plaintext"},
		{"json_array", func() *http.Request { return signed("TrentService.ListKeys", `[]`) },
			400, "SerializationException", "ListKeys"},
		{"missing_auth", func() *http.Request {
			r := signed("TrentService.ListKeys", "{}")
			r.Header.Del("Authorization")
			return r
		}, 400, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"wrong_content_type", func() *http.Request {
			r := signed("TrentService.ListKeys", "{}")
			r.Header.Set("Content-Type", "application/json")
			return r
		}, 400, "SerializationException", "application/x-amz-json-1.1"},
		{"no_content_type", func() *http.Request {
			r := signed("TrentService.ListKeys", "{}")
			r.Header.Del("Content-Type")
			return r
		}, 400, "SerializationException", "no Content-Type"},
		{"get", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
			return r
		}, 405, "UnknownOperationException", "POST /"},
		{"other_path", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/2014-11-01/keys", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			return r
		}, 404, "UnknownOperationException", "path /"},
		{"body_too_large", func() *http.Request {
			return signed("TrentService.Encrypt", `{"Plaintext":"`+strings.Repeat("A", 8192)+`"}`)
		}, 413, "SerializationException", "larger than 4096 bytes"},
		{"access_denied", func() *http.Request {
			return srv.rawRequest(t, "TrentService.CreateKey", "{}", bobKeyID, bobSecret, now)
		}, 400, "AccessDeniedException", "is not authorized to perform: kms:CreateKey"},
		{"not_found", func() *http.Request {
			return signed("TrentService.DescribeKey", `{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}`)
		}, 400, "NotFoundException", "does not exist"},
		{"validation", func() *http.Request { return signed("TrentService.DescribeKey", `{}`) },
			400, "ValidationException", "keyId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := srv.do(t, tt.req())
			msg := resp.wantError(t, tt.status, tt.typ)
			if !strings.Contains(msg, tt.message) {
				t.Errorf("message %q does not contain %q", msg, tt.message)
			}
			if !uuidRE.MatchString(resp.header.Get("X-Amzn-Requestid")) {
				t.Errorf("x-amzn-RequestId %q", resp.header.Get("X-Amzn-Requestid"))
			}
			if resp.header.Get("Trent-Served-By") != nodeID {
				t.Errorf("Trent-Served-By %q", resp.header.Get("Trent-Served-By"))
			}
			if tt.status == 405 && resp.header.Get("Allow") != "POST" {
				t.Errorf("Allow %q", resp.header.Get("Allow"))
			}
		})
	}
}

func TestRawSuccessShapes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, newService(t), awsapi.Options{})
	now := time.Now()
	call := func(target, body string) *response {
		t.Helper()
		resp := srv.do(t, srv.rawRequest(t, target, body, rootKeyID, rootSecret, now))
		if resp.status != 200 {
			t.Fatalf("%s: %d %s", target, resp.status, resp.body)
		}
		if ct := resp.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Fatalf("%s: Content-Type %q", target, ct)
		}
		if !uuidRE.MatchString(resp.header.Get("X-Amzn-Requestid")) || resp.header.Get("Trent-Served-By") != nodeID {
			t.Fatalf("%s: headers %v", target, resp.header)
		}
		return resp
	}

	// Empty bodies and {} are both valid input; empty lists and false
	// booleans of list results are present.
	for _, body := range []string{"", "{}", " \n"} {
		resp := call("TrentService.ListKeys", body)
		if string(resp.body) != `{"Keys":[],"Truncated":false}` {
			t.Fatalf("ListKeys on no keys: %s", resp.body)
		}
	}

	// Writes report the raft index; unknown members are ignored;
	// timestamps are plain epoch-second decimals; unset members are
	// omitted, and Description is present even when empty.
	resp := call("TrentService.CreateKey", `{"Tags":[],"XksKeyId":"ignored","Policy":null}`)
	if resp.header.Get("Trent-Applied-Index") == "" {
		t.Fatal("CreateKey: no Trent-Applied-Index")
	}
	if !regexp.MustCompile(`"CreationDate":[0-9]{10}(\.[0-9]{1,3})?[,}]`).Match(resp.body) {
		t.Fatalf("CreationDate is not epoch seconds: %s", resp.body)
	}
	md := resp.json["KeyMetadata"].(map[string]any)
	for _, member := range []string{"Description", "Enabled", "MultiRegion", "KeyState", "Arn"} {
		if _, ok := md[member]; !ok {
			t.Fatalf("KeyMetadata has no %s: %s", member, resp.body)
		}
	}
	for _, member := range []string{"DeletionDate", "ValidTo", "SigningAlgorithms", "MacAlgorithms", "PendingDeletionWindowInDays"} {
		if _, ok := md[member]; ok {
			t.Fatalf("KeyMetadata has unset member %s: %s", member, resp.body)
		}
	}
	keyID := md["KeyId"].(string)

	// Operations without output answer {}.
	resp = call("TrentService.DisableKey", `{"KeyId":"`+keyID+`"}`)
	if string(resp.body) != "{}" {
		t.Fatalf("DisableKey: %s", resp.body)
	}
	resp = call("TrentService.DescribeKey", `{"KeyId":"`+keyID+`"}`)
	if !bytes.Contains(resp.body, []byte(`"Enabled":false`)) {
		t.Fatalf("a disabled key's metadata lacks Enabled:false: %s", resp.body)
	}
	call("TrentService.EnableKey", `{"KeyId":"`+keyID+`"}`)

	// Blobs are standard base64 with padding, both ways.
	resp = call("TrentService.Encrypt", `{"KeyId":"`+keyID+`","Plaintext":"/+8=","EncryptionContext":{"b":"2","a":"1"}}`)
	blob := resp.json["CiphertextBlob"].(string)
	resp = call("TrentService.Decrypt", `{"CiphertextBlob":"`+blob+`","EncryptionContext":{"a":"1","b":"2"}}`)
	if resp.json["Plaintext"] != "/+8=" {
		t.Fatalf("Decrypt: %s", resp.body)
	}
	// The 1.0 content type and parameters are accepted.
	r := srv.rawRequest(t, "TrentService.ListKeys", "{}", rootKeyID, rootSecret, now)
	r.Header.Set("Content-Type", "application/x-amz-json-1.0; charset=utf-8")
	signRequest(t, r, []byte("{}"), rootKeyID, rootSecret, region, "kms", now)
	if resp := srv.do(t, r); resp.status != 200 {
		t.Fatalf("x-amz-json-1.0: %d %s", resp.status, resp.body)
	}
}

// Every RPC of the service is reachable through its X-Amz-Target.
func TestRawEveryOperationReachable(t *testing.T) {
	t.Parallel()
	srv := newServer(t, kmsv1connect.UnimplementedKeyManagementServiceHandler{}, awsapi.Options{})
	methods := kmsv1.File_trent_kms_v1_kms_proto.Services().Get(0).Methods()
	if methods.Len() == 0 {
		t.Fatal("no methods")
	}
	for i := range methods.Len() {
		name := string(methods.Get(i).Name())
		resp := srv.do(t, srv.rawRequest(t, "TrentService."+name, "{}", rootKeyID, rootSecret, time.Now()))
		msg := resp.wantError(t, 400, "UnsupportedOperationException")
		if msg != name+" is not implemented by this Trent version yet." {
			t.Errorf("%s: message %q", name, msg)
		}
	}
}

// panicService panics in every call it implements.
type panicService struct {
	kmsv1connect.UnimplementedKeyManagementServiceHandler
}

func (panicService) ListKeys(context.Context, *kmsv1.ListKeysRequest) (*kmsv1.ListKeysResponse, error) {
	panic("secret internal detail")
}

func (panicService) DescribeKey(context.Context, *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	return nil, context.DeadlineExceeded
}

func (panicService) EnableKey(context.Context, *kmsv1.EnableKeyRequest) (*kmsv1.EnableKeyResponse, error) {
	return nil, errSecret
}

var errSecret = &secretError{}

type secretError struct{}

func (*secretError) Error() string { return "secret internal detail" }

func TestRawInternalErrorsAreOpaque(t *testing.T) {
	t.Parallel()
	srv := newServer(t, panicService{}, awsapi.Options{})
	for _, tt := range []struct {
		target string
		status int
		typ    string
	}{
		{"TrentService.ListKeys", 500, "KMSInternalException"},
		{"TrentService.EnableKey", 500, "KMSInternalException"},
		{"TrentService.DescribeKey", 503, "DependencyTimeoutException"},
	} {
		resp := srv.do(t, srv.rawRequest(t, tt.target, "{}", rootKeyID, rootSecret, time.Now()))
		resp.wantError(t, tt.status, tt.typ)
		if bytes.Contains(resp.body, []byte("secret")) || bytes.Contains(resp.body, []byte("goroutine")) {
			t.Fatalf("%s leaks detail: %s", tt.target, resp.body)
		}
	}
}
