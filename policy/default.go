package policy

// DefaultKeyPolicy returns the key policy KMS gives a key created without
// one, for the given account, exactly as GetKeyPolicy returns it. Its one
// statement lets the account root do everything with the key, which
// delegates to the account's identity policies: it allows no user or role
// by itself. account is not checked; it should be a valid account ID.
func DefaultKeyPolicy(account string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "arn:aws:iam::` + account + `:root" },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}
