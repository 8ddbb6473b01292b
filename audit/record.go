package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// EventVersion is the CloudTrail event version the records follow.
const EventVersion = "1.08"

// GenesisHash is the prevHash of the first record of a chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Record is one audit event: a CloudTrail event for one API call, plus
// Trent's members and the chain links. Members are written in declaration
// order.
type Record struct {
	EventVersion      string          `json:"eventVersion"`
	UserIdentity      UserIdentity    `json:"userIdentity"`
	EventTime         string          `json:"eventTime"`
	EventSource       string          `json:"eventSource"`
	EventName         string          `json:"eventName"`
	AWSRegion         string          `json:"awsRegion"`
	SourceIPAddress   string          `json:"sourceIPAddress"`
	UserAgent         string          `json:"userAgent"`
	ErrorCode         string          `json:"errorCode,omitempty"`
	ErrorMessage      string          `json:"errorMessage,omitempty"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	ResponseElements  json.RawMessage `json:"responseElements"`
	RequestID         string          `json:"requestID"`
	EventID           string          `json:"eventID"`
	ReadOnly          bool            `json:"readOnly"`
	Resources         []Resource      `json:"resources,omitempty"`
	EventType         string          `json:"eventType"`
	ManagementEvent   bool            `json:"managementEvent"`
	RecipientAccount  string          `json:"recipientAccountId,omitempty"`
	EventCategory     string          `json:"eventCategory"`
	Trent             Trent           `json:"trent"`
	// Seq numbers the records of a node's chain from 1.
	Seq uint64 `json:"seq"`
	// PrevHash is the hash of record Seq-1, or GenesisHash for Seq 1.
	PrevHash string `json:"prevHash"`
	// Hash is the SHA-256 (hex) of the record's line without its hash
	// member; it is written last and set by the log and the parser.
	Hash string `json:"-"`
}

// UserIdentity is the caller, as CloudTrail describes it.
type UserIdentity struct {
	// Type is Root, IAMUser, Role, TrentNode, AWSService for the
	// service's own actions (ServiceEvent), or Unknown for a caller that
	// did not authenticate.
	Type        string `json:"type"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	// AccessKeyID is the SigV4 access key of an AWS-endpoint call, also
	// when its signature did not verify.
	AccessKeyID string `json:"accessKeyId,omitempty"`
	UserName    string `json:"userName,omitempty"`
	// InvokedBy names the service that acted, for a service event
	// (Type AWSService): kms.amazonaws.com.
	InvokedBy string `json:"invokedBy,omitempty"`
}

// Resource is a KMS key the call used.
type Resource struct {
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

// Trent holds the members CloudTrail does not have.
type Trent struct {
	// ServedBy is the id of the node that served the call.
	ServedBy string `json:"servedBy"`
	// Protocol is connect, grpc, grpcweb or aws-json.
	Protocol string `json:"protocol,omitempty"`
	// AppliedIndex is the raft index a write applied at; 0 for reads.
	AppliedIndex uint64 `json:"appliedIndex,omitempty"`
	// Consistency is the read mode the call was served with (bounded,
	// linearizable, min-index, leader), as the response reported it.
	Consistency string `json:"consistency,omitempty"`
	// StalenessBound is the staleness bound the response reported.
	StalenessBound string `json:"stalenessBound,omitempty"`
	// SimulatedPropagation is the simulated propagation delay a read was
	// served with, if it was (docs/eventual-consistency.md).
	SimulatedPropagation string `json:"simulatedPropagation,omitempty"`
}

// hashSuffix frames the hash member at the end of a line:
// ,"hash":"<64 hex digits>"}
const (
	hashPrefix = `,"hash":"`
	hashLen    = 64
	suffixLen  = len(hashPrefix) + hashLen + len(`"}`)
)

// appendLine appends r's line (without newline) to b: the JSON object of
// r with hash as its last member, where hash is the SHA-256 of that object
// without the hash member. It sets r.Hash. The object is what
// json.Marshal(r) writes (appendRecord); on an error b is returned as it
// was.
func appendLine(b []byte, r *Record) ([]byte, error) {
	start := len(b)
	b, err := appendRecord(b, r)
	if err != nil {
		return b[:start], fmt.Errorf("encode audit record: %w", err)
	}
	sum := sha256.Sum256(b[start:])
	b = append(b[:len(b)-1], hashPrefix...)
	h := len(b)
	b = hex.AppendEncode(b, sum[:])
	r.Hash = string(b[h:])
	return append(b, `"}`...), nil
}

// errFormat is wrapped by every parse failure.
var errFormat = errors.New("not an audit record")

// ParseLine parses one line of a log (without its newline) and checks the
// record's own hash. It does not check the chain.
func ParseLine(line []byte) (*Record, error) {
	if len(line) < suffixLen+2 || line[0] != '{' {
		return nil, fmt.Errorf("%w: too short or not a JSON object", errFormat)
	}
	cut := len(line) - suffixLen
	suffix := line[cut:]
	if !bytes.HasPrefix(suffix, []byte(hashPrefix)) || !bytes.HasSuffix(suffix, []byte(`"}`)) {
		return nil, fmt.Errorf("%w: the line does not end with its hash member", errFormat)
	}
	want := suffix[len(hashPrefix) : len(hashPrefix)+hashLen]
	var got [sha256.Size]byte
	if _, err := hex.Decode(got[:], want); err != nil || !isLowerHex(want) {
		return nil, fmt.Errorf("%w: the hash member is not 64 lowercase hex digits", errFormat)
	}
	body := make([]byte, cut+1)
	copy(body, line[:cut])
	body[cut] = '}'
	if sha256.Sum256(body) != got {
		return nil, fmt.Errorf("%w: the record does not match its hash (modified)", ErrTampered)
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", errFormat, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", errFormat)
	}
	if r.Seq == 0 || len(r.PrevHash) != hashLen || !isLowerHex([]byte(r.PrevHash)) {
		return nil, fmt.Errorf("%w: missing seq or prevHash", errFormat)
	}
	r.Hash = string(want)
	return &r, nil
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
