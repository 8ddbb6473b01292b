package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
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
	// Both params in one allocation; 256 bytes hold those of an Encrypt.
	buf, req := appendParams(make([]byte, 0, 256), c.Input, RequestFields)
	_, resp := appendParams(buf, c.Output, ResponseFields)
	r := &Record{
		EventVersion:      EventVersion,
		UserIdentity:      userIdentity(c.Principal, c.AccessKeyID),
		EventTime:         l.eventTime(),
		EventSource:       source,
		EventName:         c.Operation,
		AWSRegion:         l.opts.Region,
		SourceIPAddress:   sourceIP(c.SourceIP),
		UserAgent:         c.UserAgent,
		ErrorCode:         c.ErrorCode,
		ErrorMessage:      c.ErrorMessage,
		RequestParameters: req,
		ResponseElements:  resp,
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

// appendParams appends m's allowed members to b, and returns them as
// their own slice of b (capacity capped), or nil for null.
func appendParams(b []byte, m proto.Message, allow map[string]bool) ([]byte, json.RawMessage) {
	if m == nil {
		return b, nil
	}
	pm := m.ProtoReflect()
	if !pm.IsValid() {
		return b, nil
	}
	start := len(b)
	b = appendMessage(b, pm, allow)
	if string(b[start:]) == "null" {
		return b[:start], nil
	}
	return b, b[start:len(b):len(b)]
}

// eventTime is the time of Options.Now in RFC 3339 (whole seconds, UTC),
// formatted once per second.
func (l *Log) eventTime() string {
	now := l.opts.Now()
	sec := now.Unix()
	if st := l.stamp.Load(); st != nil && st.sec == sec {
		return st.text
	}
	text := now.UTC().Format(time.RFC3339)
	l.stamp.Store(&stamp{sec: sec, text: text})
	return text
}

// stamp is an event time formatted.
type stamp struct {
	sec  int64
	text string
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
	add := func(arn string) {
		if arn == "" || slices.ContainsFunc(out, func(r Resource) bool { return r.ARN == arn }) {
			return
		}
		out = append(out, Resource{AccountID: arnAccount(arn), Type: "AWS::KMS::Key", ARN: arn})
	}
	for _, m := range [2]proto.Message{c.Output, c.Input} {
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

// arnAccount returns the account of an ARN (its fifth member,
// arn:partition:service:region:account:resource), or "" if it has fewer
// than six.
func arnAccount(arn string) string {
	rest := arn
	for range 4 {
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			return ""
		}
		rest = rest[i+1:]
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		return rest[:i]
	}
	return ""
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
