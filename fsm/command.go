package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// commandVersion is the version byte that starts every encoded command.
const commandVersion = 1

// Op names a command in its log entry.
type Op string

// Ops. Each names one command type in the registry; the strings are part of
// the log format and never change.
const (
	OpNoop                 Op = "Noop"
	OpCreateKey            Op = "CreateKey"
	OpSetKeyEnabled        Op = "SetKeyEnabled"
	OpUpdateKeyDescription Op = "UpdateKeyDescription"
	OpScheduleKeyDeletion  Op = "ScheduleKeyDeletion"
	OpCancelKeyDeletion    Op = "CancelKeyDeletion"
	OpDeleteKey            Op = "DeleteKey"
	OpCreateGrant          Op = "CreateGrant"
	OpDeleteGrant          Op = "DeleteGrant"
	OpCreateAlias          Op = "CreateAlias"
	OpUpdateAlias          Op = "UpdateAlias"
	OpDeleteAlias          Op = "DeleteAlias"
	OpTagResource          Op = "TagResource"
	OpUntagResource        Op = "UntagResource"
	OpSetKeyRotation       Op = "SetKeyRotation"
	OpRotateKey            Op = "RotateKey"

	OpImportKeyMaterial         Op = "ImportKeyMaterial"
	OpDeleteImportedKeyMaterial Op = "DeleteImportedKeyMaterial"
	OpDeleteExpiredKeyMaterial  Op = "DeleteExpiredKeyMaterial"

	OpInitCluster      Op = "InitCluster"
	OpRegisterNode     Op = "RegisterNode"
	OpAddJoinToken     Op = "AddJoinToken"
	OpConsumeJoinToken Op = "ConsumeJoinToken"
	OpRemoveNode       Op = "RemoveNode"
	OpSetGossipKey     Op = "SetGossipKey"
	OpClusterFormed    Op = "ClusterFormed"
	OpRotateCA         Op = "RotateCA"
	OpSetPropagation   Op = "SetPropagation"

	OpStartDomainRotation   Op = "StartDomainRotation"
	OpDomainKeyHandoff      Op = "DomainKeyHandoff"
	OpAdvanceDomainRotation Op = "AdvanceDomainRotation"
	OpRewrapEKTs            Op = "RewrapEKTs"

	OpCreateUser      Op = "CreateUser"
	OpDeleteUser      Op = "DeleteUser"
	OpCreateAccessKey Op = "CreateAccessKey"
	OpDeleteAccessKey Op = "DeleteAccessKey"

	OpPutKeyPolicy          Op = "PutKeyPolicy"
	OpCreateRole            Op = "CreateRole"
	OpDeleteRole            Op = "DeleteRole"
	OpPutPrincipalPolicy    Op = "PutPrincipalPolicy"
	OpDeletePrincipalPolicy Op = "DeletePrincipalPolicy"
	OpRevokeCert            Op = "RevokeCert"
	OpRecordCert            Op = "RecordCert"
	OpPruneCerts            Op = "PruneCerts"
)

// Command is one replicated change: one type per command, each in the file
// of the state it changes. Everything nondeterministic (ids, times,
// wrapped material) is chosen by the proposer and carried in the command.
//
// The interface is sealed: a command is added to this package, with its Op
// constant, its type and an entry in the registry. TestRegistry fails when
// an Op constant has no entry, and a registered type without validate and
// apply does not compile.
type Command interface {
	// Op names the command in its log entry.
	Op() Op
	// validate checks what Encode and Decode require of the fields (ids
	// present); rules that depend on the state are apply's.
	validate() error
	// apply runs the command, the entry at index, against f's state and
	// says what it did or why it was refused. f.mu is held.
	apply(f *FSM, index uint64) *Result
}

// kind is what the codec knows of one command type.
type kind struct {
	// member is the envelope's JSON member that holds the command ("" for
	// a command without fields, such as Noop).
	member string
	new    func() Command
}

// registry lists every command. A log entry is the JSON envelope
// {"op": Op, member: command}; the member names are part of the log format
// and never change.
var registry = map[Op]kind{
	OpNoop:                 {"", func() Command { return new(Noop) }},
	OpCreateKey:            {"create_key", func() Command { return new(CreateKey) }},
	OpSetKeyEnabled:        {"set_key_enabled", func() Command { return new(SetKeyEnabled) }},
	OpUpdateKeyDescription: {"update_key_description", func() Command { return new(UpdateKeyDescription) }},
	OpScheduleKeyDeletion:  {"schedule_key_deletion", func() Command { return new(ScheduleKeyDeletion) }},
	OpCancelKeyDeletion:    {"cancel_key_deletion", func() Command { return new(CancelKeyDeletion) }},
	OpDeleteKey:            {"delete_key", func() Command { return new(DeleteKey) }},
	OpCreateGrant:          {"create_grant", func() Command { return new(CreateGrant) }},
	OpDeleteGrant:          {"delete_grant", func() Command { return new(DeleteGrant) }},
	// Aliases (aliases.go).
	OpCreateAlias: {"create_alias", func() Command { return new(CreateAlias) }},
	OpUpdateAlias: {"update_alias", func() Command { return new(UpdateAlias) }},
	OpDeleteAlias: {"delete_alias", func() Command { return new(DeleteAlias) }},
	// Tags (tags.go).
	OpTagResource:   {"tag_resource", func() Command { return new(TagResource) }},
	OpUntagResource: {"untag_resource", func() Command { return new(UntagResource) }},
	// Rotation (rotation.go).
	OpSetKeyRotation: {"set_key_rotation", func() Command { return new(SetKeyRotation) }},
	OpRotateKey:      {"rotate_key", func() Command { return new(RotateKey) }},
	// Imported key material (imports.go).
	OpImportKeyMaterial:         {"import_key_material", func() Command { return new(ImportKeyMaterial) }},
	OpDeleteImportedKeyMaterial: {"delete_imported_key_material", func() Command { return new(DeleteImportedKeyMaterial) }},
	OpDeleteExpiredKeyMaterial:  {"delete_expired_key_material", func() Command { return new(DeleteExpiredKeyMaterial) }},
	// Cluster membership (cluster.go).
	OpInitCluster:      {"init_cluster", func() Command { return new(InitCluster) }},
	OpRegisterNode:     {"register_node", func() Command { return new(RegisterNode) }},
	OpAddJoinToken:     {"add_join_token", func() Command { return new(AddJoinToken) }},
	OpConsumeJoinToken: {"consume_join_token", func() Command { return new(ConsumeJoinToken) }},
	OpRemoveNode:       {"remove_node", func() Command { return new(RemoveNode) }},
	OpSetGossipKey:     {"set_gossip_key", func() Command { return new(SetGossipKey) }},
	OpClusterFormed:    {"cluster_formed", func() Command { return new(ClusterFormed) }},
	OpRotateCA:         {"rotate_ca", func() Command { return new(RotateCA) }},
	OpSetPropagation:   {"set_propagation", func() Command { return new(SetPropagation) }},

	OpStartDomainRotation:   {"start_domain_rotation", func() Command { return new(StartDomainRotation) }},
	OpDomainKeyHandoff:      {"domain_key_handoff", func() Command { return new(DomainKeyHandoff) }},
	OpAdvanceDomainRotation: {"advance_domain_rotation", func() Command { return new(AdvanceDomainRotation) }},
	OpRewrapEKTs:            {"rewrap_ekts", func() Command { return new(RewrapEKTs) }},
	// IAM users and access keys (iam.go).
	OpCreateUser:      {"create_user", func() Command { return new(CreateUser) }},
	OpDeleteUser:      {"delete_user", func() Command { return new(DeleteUser) }},
	OpCreateAccessKey: {"create_access_key", func() Command { return new(CreateAccessKey) }},
	OpDeleteAccessKey: {"delete_access_key", func() Command { return new(DeleteAccessKey) }},
	// Authorization (authz.go) and certificates (certs.go).
	OpPutKeyPolicy:          {"put_key_policy", func() Command { return new(PutKeyPolicy) }},
	OpCreateRole:            {"create_role", func() Command { return new(CreateRole) }},
	OpDeleteRole:            {"delete_role", func() Command { return new(DeleteRole) }},
	OpPutPrincipalPolicy:    {"put_principal_policy", func() Command { return new(PutPrincipalPolicy) }},
	OpDeletePrincipalPolicy: {"delete_principal_policy", func() Command { return new(DeletePrincipalPolicy) }},
	OpRevokeCert:            {"revoke_cert", func() Command { return new(RevokeCert) }},
	OpRecordCert:            {"record_cert", func() Command { return new(RecordCert) }},
	OpPruneCerts:            {"prune_certs", func() Command { return new(PruneCerts) }},
}

// ErrMalformedCommand is returned by Encode and Decode for a command that
// is not well formed.
var ErrMalformedCommand = errors.New("fsm: malformed command")

// Encode returns the log entry bytes of c: a version byte and the JSON
// envelope {"op": ..., member: c}.
func Encode(c Command) ([]byte, error) {
	if c == nil || reflect.ValueOf(c).IsNil() {
		return nil, fmt.Errorf("%w: no command", ErrMalformedCommand)
	}
	op := c.Op()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformedCommand, op, err)
	}
	env := reflect.New(envelope.typ).Elem()
	env.Field(0).SetString(string(op))
	if i, ok := envelope.field[op]; ok {
		env.Field(i).Set(reflect.ValueOf(c))
	}
	body, err := json.Marshal(env.Addr().Interface())
	if err != nil {
		return nil, fmt.Errorf("fsm: encode %s: %w", op, err)
	}
	return append([]byte{commandVersion}, body...), nil
}

// Decode parses a log entry written by Encode.
func Decode(b []byte) (Command, error) {
	if len(b) < 2 || b[0] != commandVersion {
		return nil, ErrMalformedCommand
	}
	env := reflect.New(envelope.typ)
	if err := json.Unmarshal(b[1:], env.Interface()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedCommand, err)
	}
	e := env.Elem()
	op := Op(e.Field(0).String())
	set, member := 0, -1
	for i := 1; i < e.NumField(); i++ {
		if !e.Field(i).IsNil() {
			set++
			member = i
		}
	}
	k, known := registry[op]
	var c Command
	switch {
	case !known:
	case k.member == "" && set == 0:
		c = k.new()
	case set == 1 && member == envelope.field[op]:
		c = e.Field(member).Interface().(Command)
	}
	if c == nil {
		return nil, fmt.Errorf("%w: op %q with %d members set", ErrMalformedCommand, op, set)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformedCommand, op, err)
	}
	return c, nil
}

// envelope is the Go type of the JSON envelope, built from the registry: a
// member "op" and one pointer member per command type. Decoding into a
// struct, rather than walking a map, keeps encoding/json's rules for
// member names (case-insensitive matching, the last of duplicates wins,
// null is absent, unknown members are ignored) exactly those of the
// struct the release before the registry decoded into, so every node of a
// cluster being upgraded reads every entry, even one not written by
// Encode, the same way.
var envelope = newEnvelope()

type envelopeType struct {
	typ   reflect.Type
	field map[Op]int // the envelope field that holds each command
}

func newEnvelope() envelopeType {
	ops := make([]Op, 0, len(registry))
	for op, k := range registry {
		if k.member != "" {
			ops = append(ops, op)
		}
	}
	slices.Sort(ops) // a stable field order, for reproducible builds of the type
	fields := []reflect.StructField{{Name: "Op", Type: reflect.TypeFor[Op](), Tag: `json:"op"`}}
	field := make(map[Op]int, len(ops))
	for _, op := range ops {
		k := registry[op]
		field[op] = len(fields)
		fields = append(fields, reflect.StructField{
			Name: "C" + string(op), Type: reflect.TypeOf(k.new()),
			Tag: reflect.StructTag(`json:"` + k.member + `,omitempty"`),
		})
	}
	return envelopeType{typ: reflect.StructOf(fields), field: field}
}
