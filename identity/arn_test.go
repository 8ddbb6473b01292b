package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trentkms/trent/identity"
)

const testKeyID = "1234abcd-12ab-34cd-56ef-1234567890ab"

func TestKeyAndAliasARN(t *testing.T) {
	t.Parallel()
	if got, want := identity.KeyARN("us-east-2", "111122223333", testKeyID),
		"arn:aws:kms:us-east-2:111122223333:key/"+testKeyID; got != want {
		t.Errorf("KeyARN = %q, want %q", got, want)
	}
	if got, want := identity.AliasARN("us-east-2", "111122223333", "alias/ExampleAlias"),
		"arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias"; got != want {
		t.Errorf("AliasARN = %q, want %q", got, want)
	}
}

func TestParseKMSARNValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		arn  string
		want identity.ResourceARN
	}{
		{"key", identity.KeyARN("us-east-2", "111122223333", testKeyID),
			identity.ResourceARN{Region: "us-east-2", Account: "111122223333", Type: "key", ID: testKeyID}},
		{"mrk_key", "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
			identity.ResourceARN{Region: "eu-west-1", Account: "111122223333", Type: "key", ID: "mrk-1234abcd12ab34cd56ef1234567890ab"}},
		{"custom_region", identity.KeyARN("local", "000000000000", testKeyID),
			identity.ResourceARN{Region: "local", Account: "000000000000", Type: "key", ID: testKeyID}},
		{"alias", identity.AliasARN("us-east-2", "111122223333", "alias/ExampleAlias"),
			identity.ResourceARN{Region: "us-east-2", Account: "111122223333", Type: "alias", ID: "ExampleAlias"}},
		{"alias_punctuation", "arn:aws:kms:us-east-2:111122223333:alias/app/prod:v1_a-b",
			identity.ResourceARN{Region: "us-east-2", Account: "111122223333", Type: "alias", ID: "app/prod:v1_a-b"}},
		{"alias_aws_managed", "arn:aws:kms:us-east-2:111122223333:alias/aws/s3",
			identity.ResourceARN{Region: "us-east-2", Account: "111122223333", Type: "alias", ID: "aws/s3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := identity.ParseKMSARN(tt.arn)
			if err != nil {
				t.Fatalf("ParseKMSARN(%q) error: %v", tt.arn, err)
			}
			if got != tt.want {
				t.Errorf("ParseKMSARN(%q) = %+v, want %+v", tt.arn, got, tt.want)
			}
			if got.String() != tt.arn {
				t.Errorf("String() = %q, want %q", got.String(), tt.arn)
			}
			if got.Type == identity.TypeAlias {
				if an := got.AliasName(); an != "alias/"+got.ID || identity.AliasARN(got.Region, got.Account, an) != tt.arn {
					t.Errorf("AliasName() = %q does not re-render %q", an, tt.arn)
				}
			} else if got.AliasName() != "" {
				t.Errorf("AliasName() of a key ARN = %q, want empty", got.AliasName())
			}
		})
	}
}

func TestParseKMSARNRejectsMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		arn  string
		want string
	}{
		{"empty", "", "ARN is empty"},
		{"bare_key_id", testKeyID, `must start with "arn:"`},
		{"alias_name", "alias/ExampleAlias", `must start with "arn:"`},
		{"too_few_fields", "arn:aws:kms:us-east-2:111122223333", "want 6"},
		{"partition", "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + testKeyID, `partition must be "aws", got "aws-us-gov"`},
		{"service_iam", "arn:aws:iam::111122223333:root", `service must be "kms", got "iam"`},
		{"region_missing", "arn:aws:kms::111122223333:key/" + testKeyID, "region is missing"},
		{"region_upper", "arn:aws:kms:US-EAST-2:111122223333:key/" + testKeyID, "must start with a lowercase letter"},
		{"region_underscore", "arn:aws:kms:us_east_2:111122223333:key/" + testKeyID, `region "us_east_2" contains "_"`},
		{"region_trailing_hyphen", "arn:aws:kms:us-east-:111122223333:key/" + testKeyID, `must not end with "-"`},
		{"region_digit_first", "arn:aws:kms:1us:111122223333:key/" + testKeyID, "must start with a lowercase letter"},
		{"region_too_long", "arn:aws:kms:" + strings.Repeat("a", 33) + ":111122223333:key/" + testKeyID, "region is 33 bytes long"},
		{"account_short", "arn:aws:kms:us-east-2:1111:key/" + testKeyID, `account ID must be exactly 12 digits, got "1111"`},
		{"account_missing", "arn:aws:kms:us-east-2::key/" + testKeyID, "account ID is missing"},
		{"resource_empty", "arn:aws:kms:us-east-2:111122223333:", "resource is empty"},
		{"resource_type", "arn:aws:kms:us-east-2:111122223333:grant/abc", `resource type must be "key" or "alias", got "grant"`},
		{"resource_type_upper", "arn:aws:kms:us-east-2:111122223333:Key/" + testKeyID, `got "Key"`},
		{"key_no_id", "arn:aws:kms:us-east-2:111122223333:key/", "key ID is missing"},
		{"key_no_slash", "arn:aws:kms:us-east-2:111122223333:key", "key ID is missing"},
		{"key_upper_uuid", "arn:aws:kms:us-east-2:111122223333:key/1234ABCD-12ab-34cd-56ef-1234567890ab", "is not a lowercase UUID"},
		{"key_short_uuid", "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890a", "is not a lowercase UUID"},
		{"key_no_hyphens", "arn:aws:kms:us-east-2:111122223333:key/1234abcd12ab34cd56ef1234567890abcdef", "is not a lowercase UUID"},
		{"key_trailing", "arn:aws:kms:us-east-2:111122223333:key/" + testKeyID + "/x", "is not a lowercase UUID"},
		{"key_bad_mrk", "arn:aws:kms:us-east-2:111122223333:key/mrk-1234", "multi-Region"},
		{"alias_no_name", "arn:aws:kms:us-east-2:111122223333:alias/", "alias ID is missing"},
		{"alias_space", "arn:aws:kms:us-east-2:111122223333:alias/my alias", `contains " "`},
		{"alias_dot", "arn:aws:kms:us-east-2:111122223333:alias/my.alias", `contains "."`},
		{"alias_too_long", "arn:aws:kms:us-east-2:111122223333:alias/" + strings.Repeat("a", 251), "alias name is 257 bytes long; at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := identity.ParseKMSARN(tt.arn)
			if err == nil {
				t.Fatalf("ParseKMSARN(%q) = %+v, want error", tt.arn, r)
			}
			if !errors.Is(err, identity.ErrInvalidARN) {
				t.Errorf("error %v does not match ErrInvalidARN", err)
			}
			if ae := (*identity.ARNError)(nil); !errors.As(err, &ae) || ae.ARN != tt.arn || !strings.Contains(ae.Reason, tt.want) {
				t.Errorf("error %q is not an *ARNError for the input whose reason says %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "invalid KMS ARN ") {
				t.Errorf("error %q does not start with \"invalid KMS ARN\"", err)
			}
		})
	}
}

func TestValidators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fn   func(string) bool
		in   string
		want bool
	}{
		{"region_us", identity.ValidRegion, "us-east-1", true},
		{"region_gov", identity.ValidRegion, "us-gov-west-1", true},
		{"region_local", identity.ValidRegion, "local", true},
		{"region_empty", identity.ValidRegion, "", false},
		{"region_upper", identity.ValidRegion, "Local", false},
		{"key_uuid", identity.ValidKeyID, testKeyID, true},
		{"key_mrk", identity.ValidKeyID, "mrk-1234abcd12ab34cd56ef1234567890ab", true},
		{"key_mrk_upper", identity.ValidKeyID, "mrk-1234ABCD12ab34cd56ef1234567890ab", false},
		{"key_alias", identity.ValidKeyID, "alias/x", false},
		{"key_misplaced_hyphen", identity.ValidKeyID, "1234abcd1-2ab-34cd-56ef-1234567890ab", false},
		{"alias_ok", identity.ValidAliasName, "alias/ExampleAlias", true},
		{"alias_no_prefix", identity.ValidAliasName, "ExampleAlias", false},
		{"alias_empty_name", identity.ValidAliasName, "alias/", false},
		{"alias_bad_char", identity.ValidAliasName, "alias/a*b", false},
		{"node_ok", identity.ValidNodeID, "node-1.dc_a", true},
		{"node_empty", identity.ValidNodeID, "", false},
		{"node_dot_first", identity.ValidNodeID, ".node", false},
		{"node_slash", identity.ValidNodeID, "a/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.fn(tt.in); got != tt.want {
				t.Errorf("(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
