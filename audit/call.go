package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/uuid"
	"github.com/trentkms/trent/wire"
)

// Event sources.
const (
	SourceKMS = "kms.amazonaws.com"
	SourceIAM = "iam.amazonaws.com"
	// SourceCluster is Trent's ClusterService: joins, join tokens,
	// membership changes, status and node-to-node calls.
	SourceCluster = "cluster.trent.internal"
	// SourceAPI is the node's own API routes: health and reflection.
	SourceAPI = "api.trent.internal"
)

// Protocols of Trent.Protocol.
const ProtocolAWSJSON = "aws-json"

// Call describes one API call for the trail. Transports fill it in.
type Call struct {
	// Source is SourceKMS, SourceIAM, SourceCluster or SourceAPI.
	Source string
	// Operation is the AWS operation name (eventName), e.g. Encrypt.
	Operation string
	// Protocol is connect, grpc, grpcweb or aws-json.
	Protocol string
	// Principal is the authenticated caller; zero when authentication
	// failed or did not happen.
	Principal identity.Principal
	// AccessKeyID is the SigV4 access key the request named, if any.
	AccessKeyID string
	// SourceIP is the caller's address (host, or host:port).
	SourceIP  string
	UserAgent string
	// RequestID is the transport's request id; empty means the one the
	// context of Record carries (WithRequestID), else a fresh one.
	RequestID string
	// Input and Output are the decoded request and the response; either
	// may be nil. Only allowlisted members are recorded.
	Input, Output proto.Message
	// ErrorCode and ErrorMessage are the AWS error name and message of a
	// failed call.
	ErrorCode, ErrorMessage string
	// AppliedIndex is the raft index the response reported: where a write
	// applied, or the index a read's state reflected.
	AppliedIndex uint64
	// Consistency and StalenessBound are how the response said the call
	// was served (Trent-Consistency, Trent-Staleness-Bound), if it did.
	Consistency, StalenessBound string
	// SimulatedPropagation is the simulated propagation delay a read was
	// served with (Trent-Simulated-Propagation), if it was.
	SimulatedPropagation string
}

// Record builds the record of c and appends it; it returns once the record
// is durable. The transport must not answer the call if it fails.
func (l *Log) Record(ctx context.Context, c *Call) error {
	if c.RequestID == "" {
		c.RequestID = RequestID(ctx)
	}
	r, err := l.build(c)
	if err != nil {
		return err
	}
	return l.Append(ctx, r)
}

// build turns a call into a record (without chain links).
func (l *Log) build(c *Call) (*Record, error) {
	eventID, err := newUUID(l.opts.Rand)
	if err != nil {
		return nil, err
	}
	reqID := c.RequestID
	if reqID == "" {
		if reqID, err = newUUID(l.opts.Rand); err != nil {
			return nil, err
		}
	}
	source := c.Source
	if source == "" {
		source = SourceKMS
	}
	r := &Record{
		EventVersion:      EventVersion,
		UserIdentity:      userIdentity(c.Principal, c.AccessKeyID),
		EventTime:         l.opts.Now().UTC().Format(time.RFC3339),
		EventSource:       source,
		EventName:         c.Operation,
		AWSRegion:         l.opts.Region,
		SourceIPAddress:   sourceIP(c.SourceIP),
		UserAgent:         c.UserAgent,
		ErrorCode:         c.ErrorCode,
		ErrorMessage:      c.ErrorMessage,
		RequestParameters: params(c.Input, RequestFields),
		ResponseElements:  params(c.Output, ResponseFields),
		RequestID:         reqID,
		EventID:           eventID,
		ReadOnly:          wire.ReadOnly(c.Operation),
		EventType:         "AwsApiCall",
		ManagementEvent:   true,
		EventCategory:     "Management",
		RecipientAccount:  c.Principal.Account,
		Trent: Trent{ServedBy: l.opts.NodeID, Protocol: c.Protocol, AppliedIndex: c.AppliedIndex,
			Consistency: c.Consistency, StalenessBound: c.StalenessBound, SimulatedPropagation: c.SimulatedPropagation},
	}
	if c.ErrorCode == wire.Serialization {
		r.ErrorMessage = "The request body could not be read."
	}
	if source == SourceKMS {
		r.Resources = keyResources(c, l.opts.Region)
		if len(r.Resources) > 0 && r.Resources[0].AccountID != "" {
			r.RecipientAccount = r.Resources[0].AccountID
		}
	}
	return r, nil
}

// params renders m's allowed members, or null.
func params(m proto.Message, allow map[string]bool) json.RawMessage {
	if m == nil {
		return nil
	}
	pm := m.ProtoReflect()
	if !pm.IsValid() {
		return nil
	}
	b := appendMessage(make([]byte, 0, 128), pm, allow)
	if string(b) == "null" {
		return nil
	}
	return b
}

func userIdentity(p identity.Principal, accessKeyID string) UserIdentity {
	u := UserIdentity{Type: "Unknown", AccessKeyID: accessKeyID}
	switch p.Kind {
	case identity.KindRoot:
		u.Type, u.PrincipalID = "Root", p.Account
	case identity.KindUser:
		u.Type, u.PrincipalID, u.UserName = "IAMUser", p.ARN, p.Name
	case identity.KindRole:
		u.Type, u.PrincipalID = "Role", p.ARN
	case identity.KindNode:
		u.Type, u.PrincipalID = "TrentNode", p.Name
	default:
		return u
	}
	u.ARN, u.AccountID = p.ARN, p.Account
	return u
}

// sourceIP strips the port of host:port.
func sourceIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// keyFields are the members that name a KMS key, response first: the
// response carries the resolved ARN, the request may carry an id or alias.
var keyFields = []string{"KeyId", "SourceKeyId", "DestinationKeyId", "TargetKeyId"}

// keyResources lists the keys a KMS call named, as key ARNs. A bare key id
// is taken to be in the caller's account (where the service resolves it);
// aliases are left out.
func keyResources(c *Call, region string) []Resource {
	var out []Resource
	seen := map[string]bool{}
	add := func(arn string) {
		if arn == "" || seen[arn] {
			return
		}
		seen[arn] = true
		acct := ""
		if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
			acct = parts[4]
		}
		out = append(out, Resource{AccountID: acct, Type: "AWS::KMS::Key", ARN: arn})
	}
	for _, m := range []proto.Message{c.Output, c.Input} {
		if m == nil || !m.ProtoReflect().IsValid() {
			continue
		}
		pm := m.ProtoReflect()
		fields := pm.Descriptor().Fields()
		for _, name := range keyFields {
			fd := fields.ByJSONName(name)
			if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
				continue
			}
			add(keyARN(pm.Get(fd).String(), region, c.Principal.Account))
		}
		if fd := fields.ByJSONName("KeyMetadata"); fd != nil && fd.Kind() == protoreflect.MessageKind && pm.Has(fd) {
			md := pm.Get(fd).Message()
			if afd := md.Descriptor().Fields().ByJSONName("Arn"); afd != nil && afd.Kind() == protoreflect.StringKind {
				add(md.Get(afd).String())
			}
		}
	}
	return out
}

// keyARN returns the key ARN that id names, or "" for an alias or nothing.
func keyARN(id, region, account string) string {
	switch {
	case id == "" || strings.HasPrefix(id, "alias/"):
		return ""
	case strings.HasPrefix(id, "arn:"):
		if strings.Contains(id, ":key/") {
			return id
		}
		return ""
	case account == "" || strings.ContainsAny(id, ":/"):
		return ""
	}
	return "arn:aws:kms:" + region + ":" + account + ":key/" + id
}

// newUUID returns a random (version 4) UUID.
func newUUID(r io.Reader) (string, error) {
	s, _, err := uuid.New(r)
	if err != nil {
		return "", fmt.Errorf("audit: random id: %w", err)
	}
	return s, nil
}
