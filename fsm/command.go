package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
)

// commandVersion is the version byte that starts every encoded command.
const commandVersion = 1

// Op names a command.
type Op string

// Commands.
const (
	// OpNoop changes nothing. A new leader applies one to learn that its
	// term's first entry reached the state machine (read barriers).
	OpNoop                 Op = "Noop"
	OpCreateKey            Op = "CreateKey"
	OpSetKeyEnabled        Op = "SetKeyEnabled"
	OpUpdateKeyDescription Op = "UpdateKeyDescription"
	OpScheduleKeyDeletion  Op = "ScheduleKeyDeletion"
	OpCancelKeyDeletion    Op = "CancelKeyDeletion"
	OpCreateGrant          Op = "CreateGrant"
	OpDeleteGrant          Op = "DeleteGrant"
	OpInitCluster          Op = "InitCluster"
	OpRegisterNode         Op = "RegisterNode"
	OpAddJoinToken         Op = "AddJoinToken"
	OpConsumeJoinToken     Op = "ConsumeJoinToken"
	OpRemoveNode           Op = "RemoveNode"
	OpSetGossipKey         Op = "SetGossipKey"
	OpClusterFormed        Op = "ClusterFormed"
	OpCreateUser           Op = "CreateUser"
	OpDeleteUser           Op = "DeleteUser"
	OpCreateAccessKey      Op = "CreateAccessKey"
	OpDeleteAccessKey      Op = "DeleteAccessKey"
)

// Command is one replicated change. Exactly the member named by Op is set.
// Everything nondeterministic (ids, times, wrapped material) is chosen by
// the proposer and carried here.
type Command struct {
	Op Op `json:"op"`

	CreateKey            *CreateKey            `json:"create_key,omitempty"`
	SetKeyEnabled        *SetKeyEnabled        `json:"set_key_enabled,omitempty"`
	UpdateKeyDescription *UpdateKeyDescription `json:"update_key_description,omitempty"`
	ScheduleKeyDeletion  *ScheduleKeyDeletion  `json:"schedule_key_deletion,omitempty"`
	CancelKeyDeletion    *CancelKeyDeletion    `json:"cancel_key_deletion,omitempty"`
	CreateGrant          *CreateGrant          `json:"create_grant,omitempty"`
	DeleteGrant          *DeleteGrant          `json:"delete_grant,omitempty"`
	InitCluster          *InitCluster          `json:"init_cluster,omitempty"`
	RegisterNode         *RegisterNode         `json:"register_node,omitempty"`
	AddJoinToken         *AddJoinToken         `json:"add_join_token,omitempty"`
	ConsumeJoinToken     *ConsumeJoinToken     `json:"consume_join_token,omitempty"`
	RemoveNode           *RemoveNode           `json:"remove_node,omitempty"`
	SetGossipKey         *SetGossipKey         `json:"set_gossip_key,omitempty"`
	ClusterFormed        *ClusterFormed        `json:"cluster_formed,omitempty"`
	CreateUser           *CreateUser           `json:"create_user,omitempty"`
	DeleteUser           *DeleteUser           `json:"delete_user,omitempty"`
	CreateAccessKey      *CreateAccessKey      `json:"create_access_key,omitempty"`
	DeleteAccessKey      *DeleteAccessKey      `json:"delete_access_key,omitempty"`
	// Authorization commands (authz.go).
	PutKeyPolicy          *PutKeyPolicy          `json:"put_key_policy,omitempty"`
	CreateRole            *CreateRole            `json:"create_role,omitempty"`
	DeleteRole            *DeleteRole            `json:"delete_role,omitempty"`
	PutPrincipalPolicy    *PutPrincipalPolicy    `json:"put_principal_policy,omitempty"`
	DeletePrincipalPolicy *DeletePrincipalPolicy `json:"delete_principal_policy,omitempty"`
	RevokeCert            *RevokeCert            `json:"revoke_cert,omitempty"`
	RecordCert            *RecordCert            `json:"record_cert,omitempty"`
}

// CreateGrant adds a grant, unless a grant with the same Name and the same
// properties exists: then it returns that one (Result.Existing).
type CreateGrant struct {
	Grant Grant `json:"grant"`
	// MaxGrantsPerKey is the limit in force when the grant was proposed;
	// carrying it keeps Apply independent of node configuration.
	MaxGrantsPerKey int `json:"max_grants_per_key"`
}

// DeleteGrant removes a grant (RetireGrant and RevokeGrant; who may do
// which was decided by the proposer).
type DeleteGrant struct {
	KeyID   string `json:"key_id"`
	GrantID string `json:"grant_id"`
}

// CreateKey adds a key. Applying the same CreateKey twice (a retry after
// a lost leadership) returns the key created the first time.
type CreateKey struct {
	Key Key `json:"key"`
}

// SetKeyEnabled enables or disables a key (EnableKey, DisableKey).
type SetKeyEnabled struct {
	KeyID   string `json:"key_id"`
	Enabled bool   `json:"enabled"`
}

// UpdateKeyDescription replaces a key's description.
type UpdateKeyDescription struct {
	KeyID       string `json:"key_id"`
	Description string `json:"description"`
}

// ScheduleKeyDeletion puts a key in PendingDeletion until DeletionDate.
type ScheduleKeyDeletion struct {
	KeyID               string `json:"key_id"`
	DeletionDate        int64  `json:"deletion_date"`
	PendingWindowInDays int32  `json:"pending_window_in_days"`
}

// CancelKeyDeletion returns a key pending deletion to Disabled.
type CancelKeyDeletion struct {
	KeyID string `json:"key_id"`
}

// ErrMalformedCommand is returned by Decode for bytes that are not a command.
var ErrMalformedCommand = errors.New("fsm: malformed command")

// Encode returns the log entry bytes of c: a version byte and JSON.
func Encode(c *Command) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("fsm: encode %s: %w", c.Op, err)
	}
	return append([]byte{commandVersion}, body...), nil
}

// Decode parses a log entry written by Encode.
func Decode(b []byte) (*Command, error) {
	if len(b) < 2 || b[0] != commandVersion {
		return nil, ErrMalformedCommand
	}
	var c Command
	if err := json.Unmarshal(b[1:], &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedCommand, err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// validate checks that exactly the member named by Op is set.
func (c *Command) validate() error {
	set := 0
	for _, p := range []bool{c.CreateKey != nil, c.SetKeyEnabled != nil, c.UpdateKeyDescription != nil,
		c.ScheduleKeyDeletion != nil, c.CancelKeyDeletion != nil, c.CreateGrant != nil, c.DeleteGrant != nil,
		c.InitCluster != nil, c.RegisterNode != nil, c.AddJoinToken != nil, c.ConsumeJoinToken != nil,
		c.CreateUser != nil, c.DeleteUser != nil, c.CreateAccessKey != nil, c.DeleteAccessKey != nil,
		c.PutKeyPolicy != nil, c.CreateRole != nil, c.DeleteRole != nil, c.PutPrincipalPolicy != nil,
		c.DeletePrincipalPolicy != nil, c.RevokeCert != nil, c.RecordCert != nil,
		c.RemoveNode != nil, c.SetGossipKey != nil, c.ClusterFormed != nil} {
		if p {
			set++
		}
	}
	var ok bool
	switch c.Op {
	case OpNoop:
		ok = set == 0
	case OpCreateKey:
		ok = set == 1 && c.CreateKey != nil && c.CreateKey.Key.ID != ""
	case OpSetKeyEnabled:
		ok = set == 1 && c.SetKeyEnabled != nil
	case OpUpdateKeyDescription:
		ok = set == 1 && c.UpdateKeyDescription != nil
	case OpScheduleKeyDeletion:
		ok = set == 1 && c.ScheduleKeyDeletion != nil
	case OpCancelKeyDeletion:
		ok = set == 1 && c.CancelKeyDeletion != nil
	case OpCreateGrant:
		ok = set == 1 && c.CreateGrant != nil && c.CreateGrant.Grant.ID != "" && c.CreateGrant.Grant.KeyID != ""
	case OpDeleteGrant:
		ok = set == 1 && c.DeleteGrant != nil
	case OpInitCluster:
		ok = set == 1 && c.InitCluster != nil && c.InitCluster.Info.ID != ""
	case OpRegisterNode:
		ok = set == 1 && c.RegisterNode != nil && c.RegisterNode.Node.ID != ""
	case OpAddJoinToken:
		ok = set == 1 && c.AddJoinToken != nil && c.AddJoinToken.Token.ID != ""
	case OpConsumeJoinToken:
		ok = set == 1 && c.ConsumeJoinToken != nil
	case OpRemoveNode:
		ok = set == 1 && c.RemoveNode != nil && c.RemoveNode.ID != ""
	case OpClusterFormed:
		ok = set == 1 && c.ClusterFormed != nil
	case OpSetGossipKey:
		ok = set == 1 && c.SetGossipKey != nil && len(c.SetGossipKey.Key.Sealed) > 0
	case OpCreateUser:
		ok = set == 1 && c.CreateUser != nil && c.CreateUser.User.ID != ""
	case OpDeleteUser:
		ok = set == 1 && c.DeleteUser != nil
	case OpCreateAccessKey:
		ok = set == 1 && c.CreateAccessKey != nil && c.CreateAccessKey.Key.ID != ""
	case OpDeleteAccessKey:
		ok = set == 1 && c.DeleteAccessKey != nil
	case OpPutKeyPolicy:
		ok = set == 1 && c.PutKeyPolicy != nil
	case OpCreateRole:
		ok = set == 1 && c.CreateRole != nil && c.CreateRole.Role.ID != ""
	case OpDeleteRole:
		ok = set == 1 && c.DeleteRole != nil
	case OpPutPrincipalPolicy:
		ok = set == 1 && c.PutPrincipalPolicy != nil
	case OpDeletePrincipalPolicy:
		ok = set == 1 && c.DeletePrincipalPolicy != nil
	case OpRevokeCert:
		ok = set == 1 && c.RevokeCert != nil
	case OpRecordCert:
		ok = set == 1 && c.RecordCert != nil && c.RecordCert.Cert.Serial != ""
	}
	if !ok {
		return fmt.Errorf("%w: op %q with %d members set", ErrMalformedCommand, c.Op, set)
	}
	return nil
}
