package awsapi

import (
	"context"
	"reflect"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	kmsv1 "github.com/trentkms/trent/gen/trent/kms/v1"
	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
)

// targetPrefix prefixes every X-Amz-Target of the KMS API.
const targetPrefix = "TrentService."

// operation is one AWS operation: an RPC of KeyManagementService, whose
// name is the AWS operation name.
type operation struct {
	name  string
	input protoreflect.MessageType
	// method is the handler's method, func(ctx, *Request) (*Response, error).
	method reflect.Value
}

// call runs the operation with the decoded input.
func (o *operation) call(ctx context.Context, in proto.Message) (proto.Message, error) {
	out := o.method.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(in)})
	if err, _ := out[1].Interface().(error); err != nil {
		return nil, err
	}
	if out[0].IsNil() {
		return nil, nil
	}
	return out[0].Interface().(proto.Message), nil
}

// serviceDescriptor is KeyManagementService's descriptor.
func serviceDescriptor() protoreflect.ServiceDescriptor {
	return kmsv1.File_trent_kms_v1_kms_proto.Services().ByName(
		protoreflect.FullName(kmsv1connect.KeyManagementServiceName).Name())
}

// operations builds the dispatch table from the service descriptor: one
// entry per RPC, bound to svc's method of the same name. Every RPC is
// reachable because the generated interface has a method for each; a
// method whose signature does not match its RPC is left out (and the
// dispatch test fails).
func operations(svc kmsv1connect.KeyManagementServiceHandler) map[string]*operation {
	sd := serviceDescriptor()
	iface := reflect.ValueOf(&svc).Elem() // the interface's method set only
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	ops := make(map[string]*operation, sd.Methods().Len())
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		name := string(md.Name())
		m := iface.MethodByName(name)
		in, err1 := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
		out, err2 := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
		if !m.IsValid() || err1 != nil || err2 != nil {
			continue
		}
		t := m.Type()
		if t.NumIn() != 2 || t.In(0) != ctxType || t.In(1) != reflect.TypeOf(in.Zero().Interface()) ||
			t.NumOut() != 2 || t.Out(0) != reflect.TypeOf(out.Zero().Interface()) || t.Out(1) != errType {
			continue
		}
		ops[name] = &operation{name: name, input: in, method: m}
	}
	return ops
}
