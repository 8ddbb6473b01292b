package iam

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"time"

	iamv1 "github.com/trentkms/trent/gen/trent/iam/v1"
	"github.com/trentkms/trent/identity"
)

// IssueCertificate issues a client certificate naming a user of the
// caller's account. With a CSR, the certificate certifies the CSR's key
// and the response carries no private key; without one, the service
// generates an ECDSA P-256 key and returns it.
func (s *Service) IssueCertificate(ctx context.Context, req *iamv1.IssueCertificateRequest) (*iamv1.IssueCertificateResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkUserName(req.UserName); err != nil {
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
	if err := requireRoot(p, "IssueCertificate", userARN(p.Account, "/", req.UserName)); err != nil {
		return nil, err
	}
	u, err := s.user(p, "IssueCertificate", req.UserName)
	if err != nil {
		return nil, err
	}
	principal, err := identity.ParsePrincipal(u.ARN)
	if err != nil {
		return nil, s.internal(ctx, "IssueCertificate", err)
	}
	now := s.now()
	resp := &iamv1.IssueCertificateResponse{CaPem: string(s.ca.CertPEM()), Principal: u.ARN}
	var der []byte
	if csrDER != nil {
		der, err = s.ca.SignCSR(csrDER, principal, now, ttl)
		if err != nil {
			// The CA's messages say what to change (key type, lifetime).
			return nil, newError(ValidationError, "The certificate cannot be issued: %v", err)
		}
	} else {
		key, err := identity.NewKeyPair()
		if err != nil {
			return nil, s.internal(ctx, "IssueCertificate", err)
		}
		der, err = s.ca.IssueClient(principal, &key.PublicKey, now, ttl)
		if err != nil {
			return nil, newError(ValidationError, "The certificate cannot be issued: %v", err)
		}
		keyPEM, err := identity.EncodeKeyPEM(key)
		if err != nil {
			return nil, s.internal(ctx, "IssueCertificate", err)
		}
		resp.PrivateKeyPem = string(keyPEM)
	}
	resp.CertificatePem = string(identity.EncodeCertPEM(der))
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
