package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trentkms/trent/identity"
)

// FuzzParsePrincipal checks that ParsePrincipal never panics, that every
// error matches ErrInvalidARN, and that an accepted ARN is canonical: the
// principal's fields re-render it byte for byte.
func FuzzParsePrincipal(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::111122223333:root",
		"arn:aws:iam::111122223333:user/bob",
		"arn:aws:iam::111122223333:user/a/b/c",
		"arn:aws:iam::111122223333:role/service-role/app+x=y,z.@_-",
		"arn:aws:iam::111122223333:user//bob",
		"arn:aws:iam::111122223333:root/x",
		"arn:aws:sts::111122223333:assumed-role/R/S",
		"arn:aws:iam:::root",
		"trent://node/n1",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := identity.ParsePrincipal(s)
		if err != nil {
			if !errors.Is(err, identity.ErrInvalidARN) {
				t.Fatalf("error %v does not match ErrInvalidARN", err)
			}
			return
		}
		if p.ARN != s {
			t.Fatalf("ParsePrincipal(%q).ARN = %q", s, p.ARN)
		}
		if !identity.ValidAccountID(p.Account) {
			t.Fatalf("accepted invalid account %q", p.Account)
		}
		var rendered string
		switch p.Kind {
		case identity.KindRoot:
			rendered = identity.RootPrincipal(p.Account).ARN
		case identity.KindUser, identity.KindRole:
			if p.Name == "" || strings.Contains(p.Name, "/") || !strings.HasPrefix(p.Path, "/") || !strings.HasSuffix(p.Path, "/") {
				t.Fatalf("bad name/path split %+v", p)
			}
			rendered = "arn:aws:iam::" + p.Account + ":" + p.Kind.String() + p.Path + p.Name
		default:
			t.Fatalf("accepted kind %v", p.Kind)
		}
		if rendered != s {
			t.Fatalf("fields of %q re-render as %q", s, rendered)
		}
		again, err := identity.ParsePrincipal(rendered)
		if err != nil || again != p {
			t.Fatalf("re-parse of %q = %+v, %v; want %+v", rendered, again, err, p)
		}
	})
}

// FuzzParseKMSARN checks that ParseKMSARN never panics, that every error
// matches ErrInvalidARN, and that an accepted ARN re-renders identically
// through String, KeyARN and AliasARN.
func FuzzParseKMSARN(f *testing.F) {
	for _, s := range []string{
		identity.KeyARN("us-east-2", "111122223333", testKeyID),
		"arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
		identity.AliasARN("local", "000000000000", "alias/app/prod:v1"),
		"arn:aws:kms:us-east-2:111122223333:alias/",
		"arn:aws:kms::111122223333:key/x",
		"arn:aws:iam::111122223333:root",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := identity.ParseKMSARN(s)
		if err != nil {
			if !errors.Is(err, identity.ErrInvalidARN) {
				t.Fatalf("error %v does not match ErrInvalidARN", err)
			}
			return
		}
		if r.String() != s {
			t.Fatalf("ParseKMSARN(%q).String() = %q", s, r.String())
		}
		var rendered string
		switch r.Type {
		case identity.TypeKey:
			if !identity.ValidKeyID(r.ID) {
				t.Fatalf("accepted invalid key ID %q", r.ID)
			}
			rendered = identity.KeyARN(r.Region, r.Account, r.ID)
		case identity.TypeAlias:
			if !identity.ValidAliasName(r.AliasName()) {
				t.Fatalf("accepted invalid alias name %q", r.AliasName())
			}
			rendered = identity.AliasARN(r.Region, r.Account, r.AliasName())
		default:
			t.Fatalf("accepted type %q", r.Type)
		}
		if rendered != s || !identity.ValidRegion(r.Region) || !identity.ValidAccountID(r.Account) {
			t.Fatalf("%q re-renders as %q (%+v)", s, rendered, r)
		}
		again, err := identity.ParseKMSARN(rendered)
		if err != nil || again != r {
			t.Fatalf("re-parse of %q = %+v, %v; want %+v", rendered, again, err, r)
		}
	})
}
