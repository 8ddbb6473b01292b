#!/usr/bin/env bash
# Drives Trent's AWS-compatible endpoint with the real AWS CLI: create-key,
# encrypt and decrypt with an encryption context, re-encrypt, list-keys,
# grants, aliases, tags, rotation, scheduling and cancelling a key
# deletion, signing (checked with openssl) and verifying, ML-DSA (also
# of an external μ) and secp256k1 signing, MACs, RSA
# encryption (to the public key with openssl), data key pairs, ECDH, imported
# key material (wrapped with openssl), and calls that must fail (wrong context, bad deletion windows,
# wrong states, wrong secret). Exits non-zero on the first
# surprise.
#
# Environment:
#   TRENT_AWS_ENDPOINT     the endpoint URL, e.g. https://127.0.0.1:7700 (required)
#   AWS_ACCESS_KEY_ID      an access key of an account root (required)
#   AWS_SECRET_ACCESS_KEY  its secret (required)
#   AWS_CA_BUNDLE          PEM file trusted for the endpoint's certificate (optional)
#   AWS_DEFAULT_REGION     the endpoint's region (default: $AWS_REGION, else us-east-1)
#
# The AWS CLI is installed from Debian (apt-get install awscli) only if
# `aws` is missing. The caller's AWS config and credential files are not
# read. For a throwaway endpoint on loopback:
#
#   dir=$(mktemp -d)
#   TRENT_AWSAPI_SERVE=2m TRENT_AWSAPI_SERVE_DIR=$dir go test -run TestServeForAWSCLI ./awsapi/ &
#   until [ -f "$dir/env" ]; do sleep 0.2; done
#   set -a; . "$dir/env"; set +a; scripts/awscli-e2e.sh
set -euo pipefail

: "${TRENT_AWS_ENDPOINT:?set TRENT_AWS_ENDPOINT to the endpoint URL}"
: "${AWS_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID}"
: "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
# Only the credentials above: no profiles, no session token (Trent has no STS).
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER="" AWS_MAX_ATTEMPTS=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KMS

if ! command -v aws >/dev/null 2>&1; then
  echo "awscli-e2e: installing awscli from Debian" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq awscli >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "awscli-e2e: FAIL: $*" >&2; exit 1; }
step() { echo "awscli-e2e: $*" >&2; }
kms() { aws kms --endpoint-url "$TRENT_AWS_ENDPOINT" "$@"; }
b64d() { base64 -d 2>/dev/null || base64 -D; }

step "$(aws --version 2>&1) against $TRENT_AWS_ENDPOINT ($AWS_DEFAULT_REGION)"

step "create-key"
key_id=$(kms create-key --description "awscli-e2e $(date -u +%Y%m%dT%H%M%SZ)" --query KeyMetadata.KeyId --output text)
[ -n "$key_id" ] && [ "$key_id" != None ] || fail "create-key returned no KeyId"
state=$(kms describe-key --key-id "$key_id" --query KeyMetadata.KeyState --output text)
[ "$state" = Enabled ] || fail "describe-key: KeyState $state, want Enabled"

step "encrypt with an encryption context"
printf 'Trent e2e secret \xe2\x9c\x93' >"$tmp/plain"
kms encrypt --key-id "$key_id" --plaintext "fileb://$tmp/plain" \
  --encryption-context purpose=e2e,team=trent \
  --query CiphertextBlob --output text | b64d >"$tmp/ct"
[ -s "$tmp/ct" ] || fail "encrypt returned no ciphertext"

step "decrypt with the same encryption context"
out=$(kms decrypt --ciphertext-blob "fileb://$tmp/ct" --encryption-context purpose=e2e,team=trent \
  --query '[KeyId, Plaintext]' --output text)
read -r dec_key dec_b64 <<<"$out"
printf '%s' "$dec_b64" | b64d >"$tmp/dec"
cmp -s "$tmp/plain" "$tmp/dec" || fail "decrypt returned different plaintext"
case "$dec_key" in *":key/$key_id") ;; *) fail "decrypt KeyId $dec_key is not the key's ARN" ;; esac

step "decrypt with a different encryption context must fail"
if kms decrypt --ciphertext-blob "fileb://$tmp/ct" --encryption-context purpose=other >/dev/null 2>"$tmp/err"; then
  fail "decrypt with the wrong encryption context succeeded"
fi
grep -q InvalidCiphertextException "$tmp/err" || fail "wrong context: $(cat "$tmp/err")"

step "re-encrypt under a second key named by alias, with a new encryption context"
key2=$(kms create-key --description "awscli-e2e re-encrypt" --query KeyMetadata.KeyId --output text)
kms create-alias --alias-name "alias/awscli-e2e-re-$$" --target-key-id "$key2" || fail "create-alias for re-encrypt"
kms re-encrypt --ciphertext-blob "fileb://$tmp/ct" --source-encryption-context purpose=e2e,team=trent \
  --destination-key-id "alias/awscli-e2e-re-$$" --destination-encryption-context purpose=moved >"$tmp/re.json" ||
  fail "re-encrypt"
python3 - "$tmp/re.json" "$key_id" "$key2" <<'PY' || fail "re-encrypt output: $(cat "$tmp/re.json")"
import json, sys
out = json.load(open(sys.argv[1]))
assert out["SourceKeyId"].endswith(":key/" + sys.argv[2]) and out["KeyId"].endswith(":key/" + sys.argv[3]), out
assert out["SourceEncryptionAlgorithm"] == out["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT", out
PY
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["CiphertextBlob"])' "$tmp/re.json" | b64d >"$tmp/ct-re"
out=$(kms decrypt --ciphertext-blob "fileb://$tmp/ct-re" --encryption-context purpose=moved --query '[KeyId, Plaintext]' --output text)
read -r dec_key dec_b64 <<<"$out"
printf '%s' "$dec_b64" | b64d >"$tmp/dec-re"
cmp -s "$tmp/plain" "$tmp/dec-re" || fail "the re-encrypted ciphertext decrypts to different plaintext"
case "$dec_key" in *":key/$key2") ;; *) fail "the re-encrypted ciphertext decrypts under $dec_key" ;; esac
if kms re-encrypt --ciphertext-blob "fileb://$tmp/ct" --source-encryption-context purpose=e2e,team=trent \
  --source-key-id "$key2" --destination-key-id "$key2" >/dev/null 2>"$tmp/err"; then
  fail "re-encrypt with the wrong --source-key-id succeeded"
fi
grep -q IncorrectKeyException "$tmp/err" || fail "wrong source key: $(cat "$tmp/err")"
kms delete-alias --alias-name "alias/awscli-e2e-re-$$" || fail "delete-alias after re-encrypt"

# Grants: create with EncryptionContextSubset, list (AWS shape), retire by
# token, revoke.
step "create-grant, list-grants, retire-grant, revoke-grant"
grantee="arn:aws:iam::${TRENT_ACCOUNT_ID:-111122223333}:user/awscli-e2e"
kms create-grant --key-id "$key_id" --grantee-principal "$grantee" --operations Decrypt GenerateDataKey \
  --constraints EncryptionContextSubset={customerID=3369} --name awscli-e2e >"$tmp/grant.json" || fail "create-grant"
grant_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["GrantId"])' "$tmp/grant.json")
grant_token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["GrantToken"])' "$tmp/grant.json")
kms list-grants --key-id "$key_id" >"$tmp/grants.json" || fail "list-grants"
python3 - "$tmp/grants.json" "$grant_id" "$grantee" <<'PY' || fail "list-grants output: $(cat "$tmp/grants.json")"
import json, sys
out = json.load(open(sys.argv[1]))
assert set(out) <= {"Grants", "Truncated", "NextMarker"}, out.keys()
g = [g for g in out["Grants"] if g["GrantId"] == sys.argv[2]][0]
for member in ("KeyId", "GrantId", "Name", "CreationDate", "GranteePrincipal", "IssuingAccount", "Operations", "Constraints"):
    assert member in g, member
assert g["GranteePrincipal"] == sys.argv[3] and g["Name"] == "awscli-e2e"
assert sorted(g["Operations"]) == ["Decrypt", "GenerateDataKey"]
assert g["Constraints"] == {"EncryptionContextSubset": {"customerID": "3369"}}
assert g["KeyId"].startswith("arn:aws:kms:") and g["IssuingAccount"].endswith(":root")
PY
kms retire-grant --grant-token "$grant_token" || fail "retire-grant by token"
kms create-grant --key-id "$key_id" --grantee-principal "$grantee" --operations Decrypt >"$tmp/grant2.json" || fail "create-grant 2"
grant2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["GrantId"])' "$tmp/grant2.json")
kms revoke-grant --key-id "$key_id" --grant-id "$grant2" || fail "revoke-grant"
left=$(kms list-grants --key-id "$key_id" --query 'length(Grants)' --output text)
[ "$left" = "0" ] || fail "grants left after retire and revoke: $left"

step "list-keys"
kms list-keys --query 'Keys[].KeyId' --output text | tr '\t' '\n' | grep -qx "$key_id" || fail "list-keys does not list $key_id"

step "create-alias, encrypt and describe-key by alias, list-aliases, delete-alias"
alias="alias/awscli-e2e-$$"
kms create-alias --alias-name "$alias" --target-key-id "$key_id" || fail "create-alias"
if kms create-alias --alias-name "$alias" --target-key-id "$key_id" >/dev/null 2>"$tmp/err"; then
  fail "a second create-alias of $alias succeeded"
fi
grep -q AlreadyExistsException "$tmp/err" || fail "duplicate alias: $(cat "$tmp/err")"
kms encrypt --key-id "$alias" --plaintext "fileb://$tmp/plain" --query CiphertextBlob --output text | b64d >"$tmp/ct-alias"
out=$(kms decrypt --ciphertext-blob "fileb://$tmp/ct-alias" --query KeyId --output text)
case "$out" in *":key/$key_id") ;; *) fail "a ciphertext made through $alias decrypts under $out" ;; esac
[ "$(kms describe-key --key-id "$alias" --query KeyMetadata.KeyId --output text)" = "$key_id" ] || fail "describe-key by alias"
[ "$(kms list-aliases --key-id "$key_id" --query 'Aliases[].AliasName' --output text)" = "$alias" ] || fail "list-aliases --key-id"
kms delete-alias --alias-name "$alias" || fail "delete-alias"
if kms describe-key --key-id "$alias" >/dev/null 2>"$tmp/err"; then
  fail "describe-key by a deleted alias succeeded"
fi
grep -q NotFoundException "$tmp/err" || fail "deleted alias: $(cat "$tmp/err")"

step "tag-resource, list-resource-tags, untag-resource"
kms tag-resource --key-id "$key_id" --tags TagKey=team,TagValue=trent || fail "tag-resource"
[ "$(kms list-resource-tags --key-id "$key_id" --query 'Tags[0].TagValue' --output text)" = "trent" ] || fail "list-resource-tags"
kms untag-resource --key-id "$key_id" --tag-keys team || fail "untag-resource"
[ "$(kms list-resource-tags --key-id "$key_id" --query 'length(Tags)' --output text)" = "0" ] || fail "tags left after untag-resource"

step "enable-key-rotation, get-key-rotation-status, rotate-key-on-demand, list-key-rotations, decrypt an old ciphertext"
kms enable-key-rotation --key-id "$key_id" --rotation-period-in-days 180 || fail "enable-key-rotation"
kms get-key-rotation-status --key-id "$key_id" >"$tmp/rot.json" || fail "get-key-rotation-status"
python3 - "$tmp/rot.json" "$key_id" <<'PY' || fail "get-key-rotation-status output: $(cat "$tmp/rot.json")"
import json, sys
out = json.load(open(sys.argv[1]))
assert out["KeyRotationEnabled"] is True and out["RotationPeriodInDays"] == 180, out
assert out["KeyId"] == sys.argv[2] and "NextRotationDate" in out and "OnDemandRotationStartDate" not in out, out
PY
# The AWS CLI refuses 89 itself unless told not to validate parameters.
printf '[default]\nparameter_validation = false\n' >"$tmp/novalidation"
if AWS_CONFIG_FILE="$tmp/novalidation" kms enable-key-rotation --key-id "$key_id" --rotation-period-in-days 89 >/dev/null 2>"$tmp/err"; then
  fail "enable-key-rotation with a period of 89 days succeeded"
fi
grep -q ValidationException "$tmp/err" || fail "period 89: $(cat "$tmp/err")"
first=$(kms describe-key --key-id "$key_id" --query KeyMetadata.CurrentKeyMaterialId --output text)
[ "${#first}" = 64 ] || fail "CurrentKeyMaterialId $first is not 64 characters"
[ "$(kms rotate-key-on-demand --key-id "$key_id" --query KeyId --output text)" = "$key_id" ] || fail "rotate-key-on-demand"
second=$(kms describe-key --key-id "$key_id" --query KeyMetadata.CurrentKeyMaterialId --output text)
[ "$second" != "$first" ] || fail "rotate-key-on-demand left CurrentKeyMaterialId $first"
out=$(kms list-key-rotations --key-id "$key_id" --query 'Rotations[].[RotationType, KeyMaterialId, KeyMaterialState]' --output text)
[ "$out" = "$(printf 'ON_DEMAND\t%s\tCURRENT' "$second")" ] || fail "list-key-rotations: $out"
out=$(kms decrypt --ciphertext-blob "fileb://$tmp/ct" --encryption-context purpose=e2e,team=trent \
  --query '[KeyMaterialId, Plaintext]' --output text)
read -r dec_material dec_b64 <<<"$out"
printf '%s' "$dec_b64" | b64d >"$tmp/dec-old"
cmp -s "$tmp/plain" "$tmp/dec-old" || fail "a ciphertext made before the rotation decrypts to different plaintext"
[ "$dec_material" = "$first" ] || fail "the old ciphertext decrypted under material $dec_material, want $first"
kms disable-key-rotation --key-id "$key_id" || fail "disable-key-rotation"
[ "$(kms get-key-rotation-status --key-id "$key_id" --query KeyRotationEnabled --output text)" = "False" ] || fail "rotation still enabled"

step "schedule-key-deletion (bad windows fail), describe-key, cancel-key-deletion"
doomed=$(kms create-key --description awscli-e2e-doomed --query KeyMetadata.KeyId --output text) || fail "create-key for deletion"
for days in 6 31; do
  if kms schedule-key-deletion --key-id "$doomed" --pending-window-in-days "$days" >/dev/null 2>"$tmp/err"; then
    fail "schedule-key-deletion with a window of $days days succeeded"
  fi
  grep -q ValidationException "$tmp/err" || fail "window $days: $(cat "$tmp/err")"
done
if kms schedule-key-deletion --key-id "$doomed" --pending-window-in-days seven >/dev/null 2>&1; then
  fail "schedule-key-deletion with a window that is not a number succeeded"
fi
[ "$(kms describe-key --key-id "$doomed" --query KeyMetadata.KeyState --output text)" = "Enabled" ] || fail "a refused schedule-key-deletion changed the key"
out=$(kms schedule-key-deletion --key-id "$doomed" --pending-window-in-days 7 --query '[KeyState,PendingWindowInDays]' --output text)
[ "$out" = "$(printf 'PendingDeletion\t7')" ] || fail "schedule-key-deletion answered $out"
out=$(kms describe-key --key-id "$doomed" --query '[KeyMetadata.KeyState,KeyMetadata.PendingDeletionWindowInDays]' --output text)
[ "$out" = "$(printf 'PendingDeletion\t7')" ] || fail "describe-key of a key pending deletion: $out"
[ "$(kms describe-key --key-id "$doomed" --query 'KeyMetadata.DeletionDate' --output text)" != "None" ] || fail "describe-key shows no DeletionDate"
if kms encrypt --key-id "$doomed" --plaintext "fileb://$tmp/plain" >/dev/null 2>"$tmp/err"; then
  fail "encrypt under a key pending deletion succeeded"
fi
grep -q KMSInvalidStateException "$tmp/err" || fail "encrypt pending deletion: $(cat "$tmp/err")"
case "$(kms cancel-key-deletion --key-id "$doomed" --query KeyId --output text)" in
  *":key/$doomed") ;; *) fail "cancel-key-deletion" ;;
esac
[ "$(kms describe-key --key-id "$doomed" --query KeyMetadata.KeyState --output text)" = "Disabled" ] || fail "a cancelled deletion leaves the key Disabled"
if kms cancel-key-deletion --key-id "$doomed" >/dev/null 2>"$tmp/err"; then
  fail "a second cancel-key-deletion succeeded"
fi
grep -q KMSInvalidStateException "$tmp/err" || fail "second cancel: $(cat "$tmp/err")"

step "sign with an ECC_NIST_P256 key, get-public-key, verify with openssl and with verify"
signer=$(kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId --output text) || fail "create-key ECC_NIST_P256"
printf 'release v1.2.3' >"$tmp/msg"
kms sign --key-id "$signer" --message "fileb://$tmp/msg" --message-type RAW --signing-algorithm ECDSA_SHA_256 \
  --query Signature --output text | b64d >"$tmp/sig"
[ -s "$tmp/sig" ] || fail "sign returned no signature"
out=$(kms get-public-key --key-id "$signer" --query '[KeySpec, KeyUsage, SigningAlgorithms[0]]' --output text)
[ "$out" = "$(printf 'ECC_NIST_P256\tSIGN_VERIFY\tECDSA_SHA_256')" ] || fail "get-public-key answered $out"
kms get-public-key --key-id "$signer" --query PublicKey --output text | b64d >"$tmp/pub.der"
if command -v openssl >/dev/null 2>&1; then
  openssl pkey -pubin -inform DER -in "$tmp/pub.der" -out "$tmp/pub.pem" || fail "openssl cannot read the public key"
  openssl dgst -sha256 -verify "$tmp/pub.pem" -signature "$tmp/sig" "$tmp/msg" >/dev/null || fail "openssl does not verify Trent's signature"
  printf 'release v1.2.4' >"$tmp/msg2"
  if openssl dgst -sha256 -verify "$tmp/pub.pem" -signature "$tmp/sig" "$tmp/msg2" >/dev/null 2>&1; then
    fail "openssl verifies the signature for another message"
  fi
else
  step "openssl missing: the signature is checked by verify only"
fi
[ "$(kms verify --key-id "$signer" --message "fileb://$tmp/msg" --message-type RAW --signing-algorithm ECDSA_SHA_256 \
  --signature "fileb://$tmp/sig" --query SignatureValid --output text)" = "True" ] || fail "verify of Trent's signature"
python3 -c 'import hashlib, sys; sys.stdout.buffer.write(hashlib.sha256(open(sys.argv[1], "rb").read()).digest())' "$tmp/msg" >"$tmp/digest"
[ "$(kms verify --key-id "$signer" --message "fileb://$tmp/digest" --message-type DIGEST --signing-algorithm ECDSA_SHA_256 \
  --signature "fileb://$tmp/sig" --query SignatureValid --output text)" = "True" ] || fail "verify of the digest"
printf 'release v1.2.4' >"$tmp/msg2"
if kms verify --key-id "$signer" --message "fileb://$tmp/msg2" --message-type RAW --signing-algorithm ECDSA_SHA_256 \
  --signature "fileb://$tmp/sig" >/dev/null 2>"$tmp/err"; then
  fail "verify of another message succeeded"
fi
grep -q KMSInvalidSignatureException "$tmp/err" || fail "verify of another message: $(cat "$tmp/err")"
if kms encrypt --key-id "$signer" --plaintext "fileb://$tmp/plain" >/dev/null 2>"$tmp/err"; then
  fail "encrypt with a SIGN_VERIFY key succeeded"
fi
grep -q InvalidKeyUsageException "$tmp/err" || fail "encrypt with a signing key: $(cat "$tmp/err")"

step "sign and verify with an ML_DSA_65 key; get-public-key's SubjectPublicKeyInfo has the id-ml-dsa-65 OID"
mldsa=$(kms create-key --key-spec ML_DSA_65 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId --output text) || fail "create-key ML_DSA_65"
kms sign --key-id "$mldsa" --message "fileb://$tmp/msg" --message-type RAW --signing-algorithm ML_DSA_SHAKE_256 \
  --query Signature --output text | b64d >"$tmp/mlsig"
[ "$(wc -c <"$tmp/mlsig")" -eq 3309 ] || fail "an ML-DSA-65 signature is 3309 bytes, not $(wc -c <"$tmp/mlsig")"
out=$(kms get-public-key --key-id "$mldsa" --query '[KeySpec, KeyUsage, SigningAlgorithms[0]]' --output text)
[ "$out" = "$(printf 'ML_DSA_65\tSIGN_VERIFY\tML_DSA_SHAKE_256')" ] || fail "get-public-key answered $out"
kms get-public-key --key-id "$mldsa" --query PublicKey --output text | b64d >"$tmp/mlpub.der"
# SEQUENCE { SEQUENCE { OID 2.16.840.1.101.3.4.3.18 } BIT STRING (1952-byte key) }: 1974 bytes.
python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.exit(0 if len(d) == 1974 and bytes.fromhex("0609608648016503040312") in d[:20] else 1)' \
  "$tmp/mlpub.der" || fail "get-public-key of ML_DSA_65 is not the expected SubjectPublicKeyInfo"
[ "$(kms verify --key-id "$mldsa" --message "fileb://$tmp/msg" --message-type RAW --signing-algorithm ML_DSA_SHAKE_256 \
  --signature "fileb://$tmp/mlsig" --query SignatureValid --output text)" = "True" ] || fail "verify of Trent's ML-DSA signature"
if kms verify --key-id "$mldsa" --message "fileb://$tmp/msg2" --message-type RAW --signing-algorithm ML_DSA_SHAKE_256 \
  --signature "fileb://$tmp/mlsig" >/dev/null 2>"$tmp/err"; then
  fail "ML-DSA verify of another message succeeded"
fi
grep -q KMSInvalidSignatureException "$tmp/err" || fail "ML-DSA verify of another message: $(cat "$tmp/err")"
if kms sign --key-id "$mldsa" --message "fileb://$tmp/digest" --message-type DIGEST --signing-algorithm ML_DSA_SHAKE_256 >/dev/null 2>"$tmp/err"; then
  fail "ML-DSA sign of a DIGEST succeeded"
fi
grep -q ValidationException "$tmp/err" || fail "ML-DSA sign of a DIGEST: $(cat "$tmp/err")"

step "ML-DSA with MessageType EXTERNAL_MU: sign μ (computed here with Python's SHAKE256), verify it as the message and as μ"
# μ = SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || message, 64), pk the
# last 1952 bytes of the SubjectPublicKeyInfo (FIPS 204, pure ML-DSA with
# an empty context).
python3 -c 'import hashlib, sys
pk = open(sys.argv[1], "rb").read()[-1952:]
tr = hashlib.shake_256(pk).digest(64)
sys.stdout.buffer.write(hashlib.shake_256(tr + b"\x00\x00" + open(sys.argv[2], "rb").read()).digest(64))' \
  "$tmp/mlpub.der" "$tmp/msg" >"$tmp/mu"
kms sign --key-id "$mldsa" --message "fileb://$tmp/mu" --message-type EXTERNAL_MU --signing-algorithm ML_DSA_SHAKE_256 \
  --query Signature --output text | b64d >"$tmp/musig" || fail "sign with EXTERNAL_MU"
[ "$(kms verify --key-id "$mldsa" --message "fileb://$tmp/msg" --message-type RAW --signing-algorithm ML_DSA_SHAKE_256 \
  --signature "fileb://$tmp/musig" --query SignatureValid --output text)" = "True" ] || fail "the signature of μ does not verify as one of the message"
[ "$(kms verify --key-id "$mldsa" --message "fileb://$tmp/mu" --message-type EXTERNAL_MU --signing-algorithm ML_DSA_SHAKE_256 \
  --signature "fileb://$tmp/mlsig" --query SignatureValid --output text)" = "True" ] || fail "the RAW signature does not verify given μ"
if kms sign --key-id "$mldsa" --message "fileb://$tmp/msg" --message-type EXTERNAL_MU --signing-algorithm ML_DSA_SHAKE_256 >/dev/null 2>"$tmp/err"; then
  fail "EXTERNAL_MU sign of a message that is not 64 bytes succeeded"
fi
grep -q ValidationException "$tmp/err" || fail "EXTERNAL_MU of the wrong length: $(cat "$tmp/err")"

step "sign with an ECC_SECG_P256K1 key, verify with openssl and with verify"
k1=$(kms create-key --key-spec ECC_SECG_P256K1 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId --output text) || fail "create-key ECC_SECG_P256K1"
kms sign --key-id "$k1" --message "fileb://$tmp/msg" --message-type RAW --signing-algorithm ECDSA_SHA_256 \
  --query Signature --output text | b64d >"$tmp/k1sig"
kms get-public-key --key-id "$k1" --query PublicKey --output text | b64d >"$tmp/k1pub.der"
if command -v openssl >/dev/null 2>&1; then
  openssl pkey -pubin -inform DER -in "$tmp/k1pub.der" -out "$tmp/k1pub.pem" || fail "openssl cannot read the secp256k1 public key"
  openssl dgst -sha256 -verify "$tmp/k1pub.pem" -signature "$tmp/k1sig" "$tmp/msg" >/dev/null || fail "openssl does not verify Trent's secp256k1 signature"
fi
[ "$(kms verify --key-id "$k1" --message "fileb://$tmp/msg" --message-type RAW --signing-algorithm ECDSA_SHA_256 \
  --signature "fileb://$tmp/k1sig" --query SignatureValid --output text)" = "True" ] || fail "verify of Trent's secp256k1 signature"
if kms create-key --key-spec SM2 --key-usage SIGN_VERIFY >/dev/null 2>"$tmp/err"; then
  fail "create-key SM2 succeeded"
fi
grep -q "UnsupportedOperationException.*SM2 is not supported" "$tmp/err" || fail "create-key SM2: $(cat "$tmp/err")"

step "generate-mac and verify-mac with an HMAC_256 key"
mac_key=$(kms create-key --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC --query KeyMetadata.KeyId --output text) || fail "create-key HMAC_256"
kms generate-mac --key-id "$mac_key" --message "fileb://$tmp/msg" --mac-algorithm HMAC_SHA_256 \
  --query Mac --output text | b64d >"$tmp/mac"
[ "$(wc -c <"$tmp/mac" | tr -d ' ')" = 32 ] || fail "generate-mac returned $(wc -c <"$tmp/mac") bytes, want 32"
[ "$(kms verify-mac --key-id "$mac_key" --message "fileb://$tmp/msg" --mac-algorithm HMAC_SHA_256 \
  --mac "fileb://$tmp/mac" --query MacValid --output text)" = "True" ] || fail "verify-mac"
if kms verify-mac --key-id "$mac_key" --message "fileb://$tmp/msg2" --mac-algorithm HMAC_SHA_256 \
  --mac "fileb://$tmp/mac" >/dev/null 2>"$tmp/err"; then
  fail "verify-mac of another message succeeded"
fi
grep -q KMSInvalidMacException "$tmp/err" || fail "verify-mac of another message: $(cat "$tmp/err")"

step "RSA_2048 ENCRYPT_DECRYPT: encrypt offline with openssl, decrypt with decrypt; encrypt and decrypt"
rsa_key=$(kms create-key --key-spec RSA_2048 --key-usage ENCRYPT_DECRYPT --query KeyMetadata.KeyId --output text) || fail "create-key RSA_2048"
printf 'wrapped secret' >"$tmp/rsa-plain"
if command -v openssl >/dev/null 2>&1; then
  kms get-public-key --key-id "$rsa_key" --query PublicKey --output text | b64d >"$tmp/rsa-pub.der"
  openssl pkeyutl -encrypt -pubin -keyform DER -inkey "$tmp/rsa-pub.der" -in "$tmp/rsa-plain" -out "$tmp/rsa-ct" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 || fail "openssl cannot encrypt to the public key"
  kms decrypt --key-id "$rsa_key" --ciphertext-blob "fileb://$tmp/rsa-ct" --encryption-algorithm RSAES_OAEP_SHA_256 \
    --query Plaintext --output text | b64d >"$tmp/rsa-dec"
  cmp -s "$tmp/rsa-plain" "$tmp/rsa-dec" || fail "decrypt of an openssl ciphertext returned different plaintext"
fi
kms encrypt --key-id "$rsa_key" --plaintext "fileb://$tmp/rsa-plain" --encryption-algorithm RSAES_OAEP_SHA_1 \
  --query CiphertextBlob --output text | b64d >"$tmp/rsa-ct1"
kms decrypt --key-id "$rsa_key" --ciphertext-blob "fileb://$tmp/rsa-ct1" --encryption-algorithm RSAES_OAEP_SHA_1 \
  --query Plaintext --output text | b64d >"$tmp/rsa-dec1"
cmp -s "$tmp/rsa-plain" "$tmp/rsa-dec1" || fail "RSA encrypt/decrypt round trip"
if kms decrypt --key-id "$rsa_key" --ciphertext-blob "fileb://$tmp/rsa-ct1" --encryption-algorithm RSAES_OAEP_SHA_256 >/dev/null 2>"$tmp/err"; then
  fail "decrypt with the other OAEP hash succeeded"
fi
grep -q InvalidCiphertextException "$tmp/err" || fail "decrypt with the other hash: $(cat "$tmp/err")"

step "generate-data-key-pair: the public key is the private key's (openssl), the private key blob decrypts"
out=$(kms generate-data-key-pair --key-id "$key_id" --key-pair-spec ECC_NIST_P256 --encryption-context use=e2e \
  --query '[PrivateKeyCiphertextBlob, PrivateKeyPlaintext, PublicKey]' --output text) || fail "generate-data-key-pair"
read -r pair_blob pair_priv pair_pub <<<"$out"
printf '%s' "$pair_blob" | b64d >"$tmp/pair-blob"
printf '%s' "$pair_priv" | b64d >"$tmp/pair-priv"
printf '%s' "$pair_pub" | b64d >"$tmp/pair-pub"
kms decrypt --ciphertext-blob "fileb://$tmp/pair-blob" --encryption-context use=e2e --query Plaintext --output text | b64d >"$tmp/pair-dec"
cmp -s "$tmp/pair-priv" "$tmp/pair-dec" || fail "the private key blob decrypts to another key"
if command -v openssl >/dev/null 2>&1; then
  openssl pkey -inform DER -in "$tmp/pair-priv" -pubout -outform DER -out "$tmp/pair-pub2" || fail "openssl cannot read the private key"
  cmp -s "$tmp/pair-pub" "$tmp/pair-pub2" || fail "the public key is not the private key's"
fi

step "derive-shared-secret with an ECC_NIST_P256 KEY_AGREEMENT key equals openssl's ECDH on the peer's side"
if command -v openssl >/dev/null 2>&1; then
  agree=$(kms create-key --key-spec ECC_NIST_P256 --key-usage KEY_AGREEMENT --query KeyMetadata.KeyId --output text) || fail "create-key KEY_AGREEMENT"
  kms get-public-key --key-id "$agree" --query PublicKey --output text | b64d >"$tmp/agree-pub.der"
  openssl pkey -pubin -inform DER -in "$tmp/agree-pub.der" -out "$tmp/agree-pub.pem" || fail "openssl cannot read the key agreement public key"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/peer.pem" 2>/dev/null || fail "openssl genpkey"
  openssl pkey -in "$tmp/peer.pem" -pubout -outform DER -out "$tmp/peer-pub.der" || fail "openssl peer public key"
  openssl pkeyutl -derive -inkey "$tmp/peer.pem" -peerkey "$tmp/agree-pub.pem" -out "$tmp/secret-openssl" || fail "openssl derive"
  kms derive-shared-secret --key-id "$agree" --key-agreement-algorithm ECDH --public-key "fileb://$tmp/peer-pub.der" \
    --query SharedSecret --output text | b64d >"$tmp/secret-trent"
  cmp -s "$tmp/secret-openssl" "$tmp/secret-trent" || fail "derive-shared-secret differs from openssl's ECDH"
fi

step "imported key material (BYOK): wrapped with openssl as the AWS documentation shows"
if command -v openssl >/dev/null 2>&1; then
  byok=$(kms create-key --origin EXTERNAL --query KeyMetadata.KeyId --output text) || fail "create-key --origin EXTERNAL"
  [ "$(kms describe-key --key-id "$byok" --query KeyMetadata.KeyState --output text)" = PendingImport ] || fail "a new EXTERNAL key is not PendingImport"
  # params ALG SPEC PREFIX: the wrapping public key and the import token, as files.
  params() {
    kms get-parameters-for-import --key-id "$byok_key" --wrapping-algorithm "$1" --wrapping-key-spec "$2" \
      --query '{Key:PublicKey,Token:ImportToken}' --output text >"$tmp/$3-params" || fail "get-parameters-for-import $1 $2"
    cut -f1 "$tmp/$3-params" | b64d >"$tmp/$3-WrappingPublicKey.bin"
    cut -f2 "$tmp/$3-params" | b64d >"$tmp/$3-ImportToken.bin"
  }
  # RSAES_OAEP_SHA_256: openssl pkeyutl encrypts the material itself.
  oaep() {
    openssl pkeyutl -encrypt -in "$1" -out "$tmp/$2-EncryptedKeyMaterial.bin" -inkey "$tmp/$2-WrappingPublicKey.bin" \
      -keyform DER -pubin -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 || fail "openssl pkeyutl -encrypt"
  }
  byok_key=$byok
  openssl rand -out "$tmp/PlaintextKeyMaterial.bin" 32
  params RSAES_OAEP_SHA_256 RSA_2048 p1
  oaep "$tmp/PlaintextKeyMaterial.bin" p1
  kms import-key-material --key-id "$byok" --encrypted-key-material "fileb://$tmp/p1-EncryptedKeyMaterial.bin" \
    --import-token "fileb://$tmp/p1-ImportToken.bin" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE >/dev/null || fail "import-key-material"
  [ "$(kms describe-key --key-id "$byok" --query '[KeyMetadata.KeyState,KeyMetadata.ExpirationModel]' --output text)" = "Enabled	KEY_MATERIAL_DOES_NOT_EXPIRE" ] ||
    fail "after import-key-material: $(kms describe-key --key-id "$byok")"
  kms encrypt --key-id "$byok" --plaintext "fileb://$tmp/plain" --query CiphertextBlob --output text | b64d >"$tmp/byok-ct"
  kms decrypt --ciphertext-blob "fileb://$tmp/byok-ct" --query Plaintext --output text | b64d >"$tmp/byok-dec"
  cmp -s "$tmp/plain" "$tmp/byok-dec" || fail "decrypt with imported key material"
  kms delete-imported-key-material --key-id "$byok" >/dev/null || fail "delete-imported-key-material"
  [ "$(kms describe-key --key-id "$byok" --query KeyMetadata.KeyState --output text)" = PendingImport ] || fail "after delete-imported-key-material the key is not PendingImport"
  if kms decrypt --ciphertext-blob "fileb://$tmp/byok-ct" >/dev/null 2>"$tmp/err"; then
    fail "decrypt after delete-imported-key-material succeeded"
  fi
  grep -q KMSInvalidStateException "$tmp/err" || fail "decrypt without material: $(cat "$tmp/err")"
  # Other material is refused; the same material, with a ValidTo, brings the ciphertext back.
  openssl rand -out "$tmp/OtherKeyMaterial.bin" 32
  params RSAES_OAEP_SHA_256 RSA_2048 p2
  oaep "$tmp/OtherKeyMaterial.bin" p2
  if kms import-key-material --key-id "$byok" --encrypted-key-material "fileb://$tmp/p2-EncryptedKeyMaterial.bin" \
    --import-token "fileb://$tmp/p2-ImportToken.bin" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE >/dev/null 2>"$tmp/err"; then
    fail "import of other key material succeeded"
  fi
  grep -q IncorrectKeyMaterialException "$tmp/err" || fail "other material: $(cat "$tmp/err")"
  if kms import-key-material --key-id "$byok" --encrypted-key-material "fileb://$tmp/p2-EncryptedKeyMaterial.bin" \
    --import-token "fileb://$tmp/p1-ImportToken.bin" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE >/dev/null 2>"$tmp/err"; then
    fail "import with the token of other parameters succeeded"
  fi
  grep -q InvalidCiphertextException "$tmp/err" || fail "material for another wrapping key: $(cat "$tmp/err")"
  oaep "$tmp/PlaintextKeyMaterial.bin" p2
  valid_to=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
  kms import-key-material --key-id "$byok" --encrypted-key-material "fileb://$tmp/p2-EncryptedKeyMaterial.bin" \
    --import-token "fileb://$tmp/p2-ImportToken.bin" --expiration-model KEY_MATERIAL_EXPIRES --valid-to "$valid_to" >/dev/null || fail "re-import with --valid-to"
  kms describe-key --key-id "$byok" >"$tmp/byok.json"
  python3 - "$tmp/byok.json" "$valid_to" <<'PY' || fail "describe-key after re-import: $(cat "$tmp/byok.json")"
import datetime, json, sys
m = json.load(open(sys.argv[1]))["KeyMetadata"]
want = datetime.datetime.strptime(sys.argv[2], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
got = m["ValidTo"]
got = datetime.datetime.fromisoformat(got) if isinstance(got, str) else datetime.datetime.fromtimestamp(got, datetime.timezone.utc)
assert m["KeyState"] == "Enabled" and m["ExpirationModel"] == "KEY_MATERIAL_EXPIRES", m
assert abs((got - want).total_seconds()) < 1, (got, want)
PY
  kms decrypt --ciphertext-blob "fileb://$tmp/byok-ct" --query Plaintext --output text | b64d >"$tmp/byok-dec2"
  cmp -s "$tmp/plain" "$tmp/byok-dec2" || fail "decrypt after re-importing the same material"

  if openssl enc -ciphers 2>/dev/null | grep -q -- -id-aes256-wrap-pad; then
    step "RSA_AES_KEY_WRAP_SHA_256: an ECC_NIST_P256 private key wrapped with id-aes256-wrap-pad, signing with it"
    byok_key=$(kms create-key --origin EXTERNAL --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId --output text) ||
      fail "create-key --origin EXTERNAL ECC_NIST_P256"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/byok-ec.pem" 2>/dev/null || fail "openssl genpkey"
    openssl pkcs8 -topk8 -nocrypt -in "$tmp/byok-ec.pem" -outform DER -out "$tmp/PrivateKey.der" || fail "openssl pkcs8"
    params RSA_AES_KEY_WRAP_SHA_256 RSA_3072 p3
    openssl rand -out "$tmp/aes-key.bin" 32
    openssl enc -id-aes256-wrap-pad -K "$(xxd -p <"$tmp/aes-key.bin" | tr -d '\n')" -iv A65959A6 \
      -in "$tmp/PrivateKey.der" -out "$tmp/key-material-wrapped.bin" || fail "openssl enc -id-aes256-wrap-pad"
    openssl pkeyutl -encrypt -in "$tmp/aes-key.bin" -out "$tmp/aes-key-wrapped.bin" -inkey "$tmp/p3-WrappingPublicKey.bin" \
      -keyform DER -pubin -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 || fail "openssl pkeyutl -encrypt the AES key"
    cat "$tmp/aes-key-wrapped.bin" "$tmp/key-material-wrapped.bin" >"$tmp/p3-EncryptedKeyMaterial.bin"
    kms import-key-material --key-id "$byok_key" --encrypted-key-material "fileb://$tmp/p3-EncryptedKeyMaterial.bin" \
      --import-token "fileb://$tmp/p3-ImportToken.bin" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE >/dev/null || fail "import-key-material of a private key"
    kms get-public-key --key-id "$byok_key" --query PublicKey --output text | b64d >"$tmp/byok-pub.der"
    openssl pkey -in "$tmp/byok-ec.pem" -pubout -outform DER -out "$tmp/byok-pub2.der" || fail "openssl pkey -pubout"
    cmp -s "$tmp/byok-pub.der" "$tmp/byok-pub2.der" || fail "get-public-key is not the imported private key's"
    kms sign --key-id "$byok_key" --message "fileb://$tmp/msg" --message-type RAW --signing-algorithm ECDSA_SHA_256 \
      --query Signature --output text | b64d >"$tmp/byok-sig"
    openssl dgst -sha256 -verify "$tmp/byok-pub2.der" -keyform DER -signature "$tmp/byok-sig" "$tmp/msg" >/dev/null ||
      fail "openssl does not verify the signature of the imported key"
  fi
fi

step "a wrong secret must fail"
if AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY}x" kms list-keys >/dev/null 2>"$tmp/err"; then
  fail "list-keys with a wrong secret succeeded"
fi
grep -q InvalidSignatureException "$tmp/err" || fail "wrong secret: $(cat "$tmp/err")"

step "PASS"
