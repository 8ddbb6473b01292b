package iam

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"time"

	"github.com/trentkms/trent/fsm"
	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/identity"
	"github.com/trentkms/trent/wire"
)

// IssueCertificate issues a client certificate naming a user or role of
// the caller's account. With a CSR, the certificate certifies the CSR's key
// and the response carries no private key; without one, the service
// generates an ECDSA P-256 key and returns it.
//
// The certificate carries the principal's unique id, and its serial is
// recorded under the principal before the certificate is returned: the
// record is refused (NoSuchEntity) if the principal was deleted or
// re-created meanwhile, and deleting the principal revokes every recorded
// serial.
func (s *Service) IssueCertificate(ctx context.Context, req *iamv1.IssueCertificateRequest) (*iamv1.IssueCertificateResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case req.UserName != "" && req.RoleName != "":
		return nil, validation("Specify either userName or roleName, not both")
	case req.RoleName != "":
		err = checkName("roleName", req.RoleName)
	default:
		err = checkUserName(req.UserName)
	}
	if err != nil {
		return nil, err
	}
	ttl := DefaultCertValidity
	if v := req.ValiditySeconds; v != nil {
		if *v < 1 || *v > int64(MaxCertValidity/time.Second) {
			return nil, validation("Value '%d' at 'validitySeconds' failed to satisfy constraint: Member must have value between 1 and %d", *v, int64(MaxCertValidity/time.Second))
		}
		ttl = time.Duration(*v) * time.Second
	}
	var csrDER []byte
	if req.CertificateSigningRequest != "" {
		if csrDER, err = parseCSR(req.CertificateSigningRequest); err != nil {
			return nil, err
		}
	}
	var arn, id string
	if req.RoleName != "" {
		r, err := s.role(ctx, "IssueCertificate", req.RoleName)
		if err != nil {
			return nil, err
		}
		arn, id = r.ARN, r.ID
	} else {
		if err := requireRoot(p, "IssueCertificate", userARN(p.Account, "/", req.UserName)); err != nil {
			return nil, err
		}
		u, err := s.user(p, "IssueCertificate", req.UserName)
		if err != nil {
			return nil, err
		}
		arn, id = u.ARN, u.ID
	}
	principal, err := identity.ParsePrincipal(arn)
	if err != nil {
		return nil, s.internal(ctx, "IssueCertificate", err)
	}
	principal.ID = id
	now := s.now()
	resp := &iamv1.IssueCertificateResponse{CaPem: string(s.ca.CertPEM()), Principal: arn}
	var der []byte
	if csrDER != nil {
		der, err = s.ca.SignCSR(csrDER, principal, now, ttl)
		if err != nil {
			// The CA's messages say what to change (key type, lifetime).
			return nil, newError(wire.IAMValidation, "The certificate cannot be issued: %v", err)
		}
	} else {
		key, err := identity.NewKeyPair()
		if err != nil {
			return nil, s.internal(ctx, "IssueCertificate", err)
		}
		der, err = s.ca.IssueClient(principal, &key.PublicKey, now, ttl)
		if err != nil {
			return nil, newError(wire.IAMValidation, "The certificate cannot be issued: %v", err)
		}
		keyPEM, err := identity.EncodeKeyPEM(key)
		if err != nil {
			return nil, s.internal(ctx, "IssueCertificate", err)
		}
		resp.PrivateKeyPem = string(keyPEM)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, s.internal(ctx, "IssueCertificate", err)
	}
	// Not returned unless recorded: a certificate whose record is refused
	// (its principal is gone) is dropped here.
	if _, err := s.propose(ctx, &fsm.RecordCert{Cert: fsm.IssuedCert{
		Serial: cert.SerialNumber.Text(16), Account: principal.Account, Principal: arn, PrincipalID: id,
		IssuedAt: now.UnixMilli(), NotAfter: cert.NotAfter.UnixMilli(),
	}}); err != nil {
		return nil, err
	}
	resp.CertificatePem = string(identity.EncodeCertPEM(der))
	return resp, nil
}

// ListCertificates lists the certificates issued to a user or role of the
// caller's account or, with neither named, to the calling user, in serial
// order. The root may list any principal's; a user only its own.
func (s *Service) ListCertificates(ctx context.Context, req *iamv1.ListCertificatesRequest) (*iamv1.ListCertificatesResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := maxItems(req.MaxItems)
	if err != nil {
		return nil, err
	}
	if len(req.Marker) > 320 {
		return nil, validation("Value at 'marker' failed to satisfy constraint: Member must have length less than or equal to 320")
	}
	st, err := s.authzStore()
	if err != nil {
		return nil, err
	}
	var id string
	switch {
	case req.UserName != "" && req.RoleName != "":
		return nil, validation("Specify either userName or roleName, not both")
	case req.RoleName != "":
		r, err := s.role(ctx, "ListCertificates", req.RoleName)
		if err != nil {
			return nil, err
		}
		id = r.ID
	default:
		name := req.UserName
		if name == "" {
			if p.Kind != identity.KindUser {
				return nil, validation("Must specify userName or roleName when calling with non-User credentials")
			}
			name = p.Name
		} else if err := checkUserName(name); err != nil {
			return nil, err
		}
		u, err := s.user(p, "ListCertificates", name)
		if err != nil {
			return nil, err
		}
		id = u.ID
	}
	certs, more := st.ListCertificates(id, req.Marker, limit)
	resp := &iamv1.ListCertificatesResponse{Certificates: make([]*iamv1.Certificate, 0, len(certs)), IsTruncated: more}
	for _, c := range certs {
		status := "Active"
		if st.CertRevoked(c.Serial) {
			status = "Revoked"
		}
		resp.Certificates = append(resp.Certificates, &iamv1.Certificate{SerialNumber: c.Serial, Arn: c.Principal, PrincipalId: c.PrincipalID,
			IssueDate: isoDate(c.IssuedAt), Expiration: isoDate(c.NotAfter), Status: status})
	}
	if more {
		resp.Marker = certs[len(certs)-1].Serial
	}
	return resp, nil
}

// parseCSR decodes a PEM certificate request and checks its signature.
func parseCSR(s string) ([]byte, error) {
	block, rest := pem.Decode([]byte(s))
	switch {
	case block == nil:
		return nil, validation("Value at 'certificateSigningRequest' failed to satisfy constraint: Member must be a PEM CERTIFICATE REQUEST")
	case block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST":
		return nil, validation("Value at 'certificateSigningRequest' failed to satisfy constraint: PEM block is %q, want \"CERTIFICATE REQUEST\"", block.Type)
	case strings.TrimSpace(string(rest)) != "":
		return nil, validation("Value at 'certificateSigningRequest' failed to satisfy constraint: Member must hold exactly one PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, validation("Value at 'certificateSigningRequest' failed to satisfy constraint: the request does not parse: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, validation("Value at 'certificateSigningRequest' failed to satisfy constraint: the request's signature is invalid")
	}
	return block.Bytes, nil
}
