package history

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func TestRecorderAndJSONL(t *testing.T) {
	now := time.Unix(100, 0)
	clock := func() time.Time { return now }
	r := NewRecorder(clock)
	now = now.Add(5 * time.Millisecond)
	if got := r.Now(); got != int64(5*time.Millisecond) {
		t.Fatalf("Now = %d", got)
	}
	r.Add(Op{Process: 1, F: "b", Type: Ok, Call: 20, Return: 30, Applied: 7})
	r.Add(Op{Process: 0, F: "a", Type: Info, Call: 10, Return: 40, Err: "timeout"})
	ops := r.Ops()
	if ops[0].F != "a" || ops[0].ID != 1 || ops[1].ID != 0 {
		t.Fatalf("Ops not ordered by call with ids by completion: %+v", ops)
	}
	var b bytes.Buffer
	if err := WriteJSONL(&b, ops); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSONL(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ops) {
		t.Fatalf("round trip:\n%+v\n%+v", back, ops)
	}
}
