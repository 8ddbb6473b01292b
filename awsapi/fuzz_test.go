package awsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/trentkms/trent/awsapi"
)

// FuzzRequest sends signed requests with arbitrary targets and bodies to a
// real service. Every answer must be a success with a JSON object body, or
// a well-formed AWS client error: never a panic, never a server fault.
func FuzzRequest(f *testing.F) {
	for _, s := range []struct{ target, body string }{
		{"TrentService.ListKeys", ""},
		{"TrentService.CreateKey", `{"Description":"d","Tags":[{"TagKey":"a","TagValue":"b"}]}`},
		{"TrentService.Encrypt", `{"KeyId":"alias/x","Plaintext":"aGk=","EncryptionContext":{"a":"b"}}`},
		{"TrentService.Decrypt", `{"CiphertextBlob":"AAAA","GrantTokens":["t"]}`},
		{"TrentService.GenerateDataKey", `{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","NumberOfBytes":1e1}`},
		{"TrentService.CreateGrant", `{"KeyId":"k","GranteePrincipal":"arn:aws:iam::111122223333:user/bob","Operations":["Encrypt"],"Constraints":{"EncryptionContextEquals":{}}}`},
		{"TrentService.ListKeys", `{"Limit":"5","Marker":null,"Unknown":{"x":[1,2]}}`},
		{"TrentService.GenerateRandom", `{"NumberOfBytes":-1}`},
		{"TrentService.Nope", `{}`},
		{"", `{"KeyId":`},
		{"TrentService.", "\xff"},
	} {
		f.Add(s.target, []byte(s.body))
	}
	h := awsapi.NewHandler(newService(f), testCreds(f), awsapi.Options{Region: region, MaxBodyBytes: 1 << 16})
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "https://kms.us-east-1.amazonaws.com/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", target)
		signRequest(t, r, body, rootKeyID, rootSecret, region, "kms", time.Now())
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, r.WithContext(ctx))
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("target %q body %q took %v: %s", target, body, d, w.Body.Bytes())
		}

		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%d: body is not a JSON object: %q", w.Code, w.Body.Bytes())
		}
		if w.Header().Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Fatalf("Content-Type %q", w.Header().Get("Content-Type"))
		}
		if w.Code == http.StatusOK {
			if _, isErr := out["__type"]; isErr {
				t.Fatalf("200 with an error body %s", w.Body.Bytes())
			}
			return
		}
		typ, _ := out["__type"].(string)
		if typ == "" || w.Header().Get("X-Amzn-Errortype") != typ || len(out) != 2 {
			t.Fatalf("%d: malformed error %s (X-Amzn-Errortype %q)", w.Code, w.Body.Bytes(), w.Header().Get("X-Amzn-Errortype"))
		}
		if _, ok := out["message"].(string); !ok {
			if _, ok := out["Message"].(string); !ok {
				t.Fatalf("error without a message: %s", w.Body.Bytes())
			}
		}
		if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d for target %q body %q: %s", w.Code, target, body, w.Body.Bytes())
		}
	})
}
