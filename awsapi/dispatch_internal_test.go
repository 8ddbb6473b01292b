package awsapi

import (
	"reflect"
	"testing"

	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
)

// Every RPC of the service descriptor, and every method of the generated
// handler interface, is in the dispatch table under its AWS name.
func TestDispatchTableIsComplete(t *testing.T) {
	ops := operations(kmsv1connect.UnimplementedKeyManagementServiceHandler{})
	methods := serviceDescriptor().Methods()
	iface := reflect.TypeFor[kmsv1connect.KeyManagementServiceHandler]()
	if len(ops) != methods.Len() || len(ops) != iface.NumMethod() {
		t.Fatalf("%d operations for %d RPCs and %d interface methods", len(ops), methods.Len(), iface.NumMethod())
	}
	for i := range methods.Len() {
		md := methods.Get(i)
		op, ok := ops[string(md.Name())]
		if !ok {
			t.Errorf("RPC %s is not reachable", md.Name())
			continue
		}
		if op.input.Descriptor() != md.Input() {
			t.Errorf("%s decodes into %s, want %s", md.Name(), op.input.Descriptor().FullName(), md.Input().FullName())
		}
	}
	for i := range iface.NumMethod() {
		if _, ok := ops[iface.Method(i).Name]; !ok {
			t.Errorf("handler method %s is not reachable", iface.Method(i).Name)
		}
	}
}
