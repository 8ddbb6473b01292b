package awsapi_test

import (
	"context"
	"net/http"

	"github.com/trentkms/trent/awsapi"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/identity"
)

// keyTable is a Credentials backed by a fixed table, for the example.
type keyTable map[string]string

func (k keyTable) Lookup(_ context.Context, id string) ([]byte, identity.Principal, error) {
	secret, ok := k[id]
	if !ok {
		return nil, identity.Principal{}, awsapi.ErrUnknownAccessKey
	}
	return []byte(secret), identity.RootPrincipal("111122223333"), nil
}

// The AWS endpoint shares the HTTPS listener with the Connect API: the
// Connect paths are more specific than POST /, so they keep winning.
// Clients then use, for example,
//
//	aws kms list-keys --endpoint-url https://trent.example.com:7700 --region us-east-1
func ExampleNewHandler() {
	// In a node this is rpc.Service(kmsService).
	var svc kmsv1connect.KeyManagementServiceHandler = kmsv1connect.UnimplementedKeyManagementServiceHandler{}
	creds := keyTable{"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}

	mux := http.NewServeMux()
	mux.Handle("POST /", awsapi.NewHandler(svc, creds, awsapi.Options{Region: "us-east-1", NodeID: "node-1"}))
	_ = &http.Server{Handler: mux}
}
