package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/trentkms/trent/identity"
)

func TestParsePrincipalValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		arn  string
		want identity.Principal
	}{
		{"root", "arn:aws:iam::111122223333:root",
			identity.Principal{ARN: "arn:aws:iam::111122223333:root", Account: "111122223333", Kind: identity.KindRoot}},
		{"root_leading_zeros", "arn:aws:iam::000000000001:root",
			identity.Principal{ARN: "arn:aws:iam::000000000001:root", Account: "000000000001", Kind: identity.KindRoot}},
		{"user", "arn:aws:iam::111122223333:user/bob",
			identity.Principal{ARN: "arn:aws:iam::111122223333:user/bob", Account: "111122223333", Kind: identity.KindUser, Path: "/", Name: "bob"}},
		{"user_with_path", "arn:aws:iam::111122223333:user/division_abc/subdivision_xyz/Bob",
			identity.Principal{ARN: "arn:aws:iam::111122223333:user/division_abc/subdivision_xyz/Bob", Account: "111122223333", Kind: identity.KindUser, Path: "/division_abc/subdivision_xyz/", Name: "Bob"}},
		{"user_all_punctuation", "arn:aws:iam::111122223333:user/a+b=c,d.e@f_g-h",
			identity.Principal{ARN: "arn:aws:iam::111122223333:user/a+b=c,d.e@f_g-h", Account: "111122223333", Kind: identity.KindUser, Path: "/", Name: "a+b=c,d.e@f_g-h"}},
		{"role", "arn:aws:iam::444455556666:role/KeyAdmin",
			identity.Principal{ARN: "arn:aws:iam::444455556666:role/KeyAdmin", Account: "444455556666", Kind: identity.KindRole, Path: "/", Name: "KeyAdmin"}},
		{"role_with_path", "arn:aws:iam::444455556666:role/service-role/app",
			identity.Principal{ARN: "arn:aws:iam::444455556666:role/service-role/app", Account: "444455556666", Kind: identity.KindRole, Path: "/service-role/", Name: "app"}},
		{"name_64_bytes", "arn:aws:iam::111122223333:user/" + strings.Repeat("n", 64),
			identity.Principal{ARN: "arn:aws:iam::111122223333:user/" + strings.Repeat("n", 64), Account: "111122223333", Kind: identity.KindUser, Path: "/", Name: strings.Repeat("n", 64)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := identity.ParsePrincipal(tt.arn)
			if err != nil {
				t.Fatalf("ParsePrincipal(%q) error: %v", tt.arn, err)
			}
			if got != tt.want {
				t.Errorf("ParsePrincipal(%q) = %+v, want %+v", tt.arn, got, tt.want)
			}
			if got.String() != tt.arn {
				t.Errorf("String() = %q, want %q", got.String(), tt.arn)
			}
			if got.IsRoot() != (tt.want.Kind == identity.KindRoot) {
				t.Errorf("IsRoot() = %v for kind %v", got.IsRoot(), got.Kind)
			}
		})
	}
}

func TestParsePrincipalRejectsMalformed(t *testing.T) {
	t.Parallel()
	// want is a fragment the error must contain, naming what is wrong.
	tests := []struct {
		name string
		arn  string
		want string
	}{
		{"empty", "", "ARN is empty"},
		{"too_long", "arn:aws:iam::111122223333:user/" + strings.Repeat("a", 3000), "at most 2048"},
		{"bare_account", "111122223333", `must start with "arn:"`},
		{"upper_case_prefix", "ARN:aws:iam::111122223333:root", `must start with "arn:"`},
		{"leading_space", " arn:aws:iam::111122223333:root", `must start with "arn:"`},
		{"too_few_fields", "arn:aws:iam::111122223333", "want 6"},
		{"wildcard", "*", `must start with "arn:"`},
		{"partition_china", "arn:aws-cn:iam::111122223333:root", `partition must be "aws", got "aws-cn"`},
		{"partition_empty", "arn::iam::111122223333:root", `partition must be "aws", got ""`},
		{"service_kms", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", `service must be "iam" for a principal, got "kms"`},
		{"service_sts", "arn:aws:sts::111122223333:assumed-role/R/S", "STS assumed-role sessions are not principals"},
		{"service_upper", "arn:aws:IAM::111122223333:root", `got "IAM"`},
		{"region_present", "arn:aws:iam:us-east-1:111122223333:root", `region must be empty in an IAM ARN, got "us-east-1"`},
		{"account_missing", "arn:aws:iam:::root", "account ID is missing"},
		{"account_short", "arn:aws:iam::11112222333:root", `account ID must be exactly 12 digits, got "11112222333"`},
		{"account_long", "arn:aws:iam::1111222233334:root", "exactly 12 digits"},
		{"account_letters", "arn:aws:iam::11112222333a:root", "exactly 12 digits"},
		{"account_wildcard", "arn:aws:iam::*:root", `exactly 12 digits, got "*"`},
		{"resource_empty", "arn:aws:iam::111122223333:", "resource is empty"},
		{"root_with_name", "arn:aws:iam::111122223333:root/bob", "root takes no name"},
		{"root_upper", "arn:aws:iam::111122223333:Root", `resource must be root, user/<name> or role/<name>, got "Root"`},
		{"group", "arn:aws:iam::111122223333:group/admins", `resource type "group" is not a principal`},
		{"policy", "arn:aws:iam::111122223333:policy/p", `resource type "policy" is not a principal`},
		{"user_upper_type", "arn:aws:iam::111122223333:User/bob", `resource type "User" is not a principal`},
		{"user_no_slash", "arn:aws:iam::111122223333:user", "user name is missing"},
		{"user_no_name", "arn:aws:iam::111122223333:user/", "user name is missing"},
		{"role_trailing_slash", "arn:aws:iam::111122223333:role/path/", "role name is empty"},
		{"user_name_too_long", "arn:aws:iam::111122223333:user/" + strings.Repeat("n", 65), "user name is 65 bytes long; at most 64"},
		{"user_name_space", "arn:aws:iam::111122223333:user/bob smith", `user name "bob smith" contains " "`},
		{"user_name_colon", "arn:aws:iam::111122223333:user/bob:x", `contains ":"`},
		{"user_name_wildcard", "arn:aws:iam::111122223333:user/*", `contains "*"`},
		{"user_name_question", "arn:aws:iam::111122223333:user/b?b", `contains "?"`},
		{"user_name_hash", "arn:aws:iam::111122223333:user/b#b", `contains "#"`},
		{"user_name_percent", "arn:aws:iam::111122223333:user/b%41", `contains "%"`},
		{"user_name_unicode", "arn:aws:iam::111122223333:user/bøb", `contains "ø"`},
		{"user_name_nul", "arn:aws:iam::111122223333:user/b\x00b", `contains "\x00"`},
		{"path_double_slash", "arn:aws:iam::111122223333:user/a//bob", `path "/a//" has an empty segment`},
		{"path_leading_double_slash", "arn:aws:iam::111122223333:user//bob", "empty segment"},
		{"path_bad_char", "arn:aws:iam::111122223333:role/a*b/app", `path segment "a*b" contains "*"`},
		{"path_too_long", "arn:aws:iam::111122223333:user/" + strings.Repeat("p/", 300) + "bob", "path is 601 bytes long; at most 512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := identity.ParsePrincipal(tt.arn)
			if err == nil {
				t.Fatalf("ParsePrincipal(%q) = %+v, want error", tt.arn, p)
			}
			if !errors.Is(err, identity.ErrInvalidARN) {
				t.Errorf("error %v does not match ErrInvalidARN", err)
			}
			var ae *identity.ARNError
			if !errors.As(err, &ae) || ae.ARN != tt.arn {
				t.Errorf("error %v is not an *ARNError for the input", err)
			}
			if ae != nil && !strings.Contains(ae.Reason, tt.want) {
				t.Errorf("error %q: reason does not say %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "invalid principal ARN ") {
				t.Errorf("error %q does not start with \"invalid principal ARN\"", err)
			}
			if p != (identity.Principal{}) {
				t.Errorf("got non-zero principal %+v with error", p)
			}
		})
	}
}

func TestARNErrorElidesLongInput(t *testing.T) {
	t.Parallel()
	_, err := identity.ParsePrincipal("arn:aws:iam::111122223333:user/" + strings.Repeat("x", 5000))
	if err == nil {
		t.Fatal("want error")
	}
	if n := len(err.Error()); n > 400 {
		t.Errorf("error message is %d bytes; long input should be elided", n)
	}
}

func TestRootPrincipal(t *testing.T) {
	t.Parallel()
	p := identity.RootPrincipal("111122223333")
	parsed, err := identity.ParsePrincipal("arn:aws:iam::111122223333:root")
	if err != nil {
		t.Fatal(err)
	}
	if p != parsed {
		t.Errorf("RootPrincipal = %+v, ParsePrincipal = %+v", p, parsed)
	}
	if !p.IsRoot() {
		t.Error("IsRoot() = false")
	}
}

func TestNodePrincipal(t *testing.T) {
	t.Parallel()
	p, err := identity.NodePrincipal("node-1")
	if err != nil {
		t.Fatal(err)
	}
	want := identity.Principal{ARN: "trent://node/node-1", Kind: identity.KindNode, Name: "node-1"}
	if p != want {
		t.Errorf("NodePrincipal = %+v, want %+v", p, want)
	}
	if p.IsRoot() {
		t.Error("node principal IsRoot")
	}
	if _, err := identity.ParsePrincipal(p.ARN); err == nil {
		t.Error("ParsePrincipal accepted a node URI")
	}
	for _, bad := range []string{"", "-x", "a/b", "a b", strings.Repeat("n", 129)} {
		if _, err := identity.NodePrincipal(bad); err == nil {
			t.Errorf("NodePrincipal(%q) succeeded", bad)
		}
	}
}

func TestValidAccountID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"111122223333", true},
		{"000000000000", true},
		{"", false},
		{"11112222333", false},
		{"1111222233334", false},
		{"11112222333a", false},
		{"-11112222333", false},
		{"１11122223333", false}, // full-width digit
	}
	for _, tt := range tests {
		if got := identity.ValidAccountID(tt.in); got != tt.want {
			t.Errorf("ValidAccountID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[identity.Kind]string{
		identity.KindRoot: "root", identity.KindUser: "user", identity.KindRole: "role",
		identity.KindNode: "node", 0: "Kind(0)", 9: "Kind(9)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if p, ok := identity.FromContext(ctx); ok {
		t.Errorf("FromContext(empty) = %+v, true", p)
	}
	bob, err := identity.ParsePrincipal("arn:aws:iam::111122223333:user/bob")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := identity.FromContext(identity.NewContext(ctx, bob))
	if !ok || got != bob {
		t.Errorf("FromContext = %+v, %v; want %+v, true", got, ok, bob)
	}
	if _, ok := identity.FromContext(identity.NewContext(ctx, identity.Principal{})); ok {
		t.Error("FromContext reports a zero principal as present")
	}
}
