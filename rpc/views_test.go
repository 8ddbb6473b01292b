package rpc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"testing"

	"github.com/trentkms/trent/gen/trent/kms/v1/kmsv1connect"
	"github.com/trentkms/trent/kms"
	"github.com/trentkms/trent/wire"
)

// Every read-only KMS operation that reads replicated state is routed by
// views (declared in views.go), so that a simulated propagation delay
// covers it; no write is, so writes always see the local state.
func TestViewsRouteEveryStateRead(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "views.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv == nil || fd.Name.Name == "pick" {
			continue
		}
		if id, ok := fd.Recv.List[0].Type.(*ast.Ident); ok && id.Name == "views" {
			routed[fd.Name.Name] = true
		}
	}
	iface := reflect.TypeFor[kmsv1connect.KeyManagementServiceHandler]()
	service := reflect.TypeFor[*kms.Service]()
	for i := range iface.NumMethod() {
		op := iface.Method(i).Name
		_, has := service.MethodByName(op) // else Unimplemented answers it
		want := has && wire.ReadOnly(op) && op != "GenerateRandom"
		if routed[op] != want {
			t.Errorf("%s: routed by views = %v, want %v", op, routed[op], want)
		}
	}
}
