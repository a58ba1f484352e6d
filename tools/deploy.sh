#!/usr/bin/env bash
# make deploy: uploads the release zips (make build) and deploys every stack
# of the mesh, in the order and with the wiring `mesh infra plan` prints,
# with the AWS CLI (`aws cloudformation deploy`: a change set per stack, so a
# second run updates in place and an unchanged stack is left alone).
#
# Settings (environment):
#   ARTIFACT_BUCKET   required: an S3 bucket in the target account and region
#                     (created if missing) for the zips and the templates
#   PREFIX            name prefix of every stack and resource (default: mesh)
#   ARCHITECTURE      arm64 (default) or x86_64: what make build produced
#   LOG_LEVEL         RUST_LOG of every function (default: info)
#   ALARM_ACTION_ARN  what the alarms notify, e.g. an SNS topic (default: none)
#   JwtIssuer, <Client>ClientId (e.g. ReferenceClientClientId)
#                     another OIDC issuer and its clients for the HTTP APIs'
#                     tokens (default: the identity stack's user pool)
#   AWS_PROFILE / AWS_REGION / AWS_ENDPOINT_URL: the standard AWS CLI settings
set -euo pipefail

: "${ARTIFACT_BUCKET:?set ARTIFACT_BUCKET to an S3 bucket for the function zips}"
PREFIX=${PREFIX:-mesh}
ARCHITECTURE=${ARCHITECTURE:-arm64}
LOG_LEVEL=${LOG_LEVEL:-info}
ALARM_ACTION_ARN=${ALARM_ACTION_ARN:-}
AWS=${AWS:-aws}
MESH=${MESH:-cargo run --quiet -p mesh-cli --bin mesh --}
ZIPS=${ZIPS:-target/lambda}
# A new key per build: CloudFormation updates a function when its S3 key changes.
BUILD=$(git rev-parse --short=12 HEAD 2>/dev/null || date +%s)
ARTIFACT_PREFIX="builds/$BUILD/"

declare -A setting=(
  [Prefix]=$PREFIX [ArtifactBucket]=$ARTIFACT_BUCKET [ArtifactPrefix]=$ARTIFACT_PREFIX
  [Architecture]=$ARCHITECTURE [LogLevel]=$LOG_LEVEL [AlarmActionArn]=$ALARM_ACTION_ARN
)

if ! $AWS s3api head-bucket --bucket "$ARTIFACT_BUCKET" >/dev/null 2>&1; then
  echo "creating s3://$ARTIFACT_BUCKET"
  $AWS s3 mb "s3://$ARTIFACT_BUCKET" >/dev/null
fi
shopt -s nullglob
zips=("$ZIPS"/*/bootstrap.zip)
[ ${#zips[@]} -gt 0 ] || { echo "no zips under $ZIPS: run make build first" >&2; exit 1; }
for zip in "${zips[@]}"; do
  crate=$(basename "$(dirname "$zip")")
  $AWS s3 cp --quiet "$zip" "s3://$ARTIFACT_BUCKET/$ARTIFACT_PREFIX$crate.zip"
done
echo "uploaded ${#zips[@]} zips to s3://$ARTIFACT_BUCKET/$ARTIFACT_PREFIX"

output() { # stack key
  $AWS cloudformation describe-stacks --stack-name "$PREFIX-$1" \
    --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text
}

plan=$($MESH infra plan)
while read -r stack template parameters; do
  overrides=()
  for parameter in $parameters; do
    name=${parameter%%=*} source=${parameter#*=}
    case $source in
      setting:*) value=${setting[${source#setting:}]} ;;
      output:*) rest=${source#output:}; value=$(output "${rest%%:*}" "${rest#*:}") ;;
      setting-or-output:*) # the environment variable named like the setting, else the output
        rest=${source#setting-or-output:}; given=${rest%%:*}; rest=${rest#*:}
        value=${!given:-}
        [ -n "$value" ] || value=$(output "${rest%%:*}" "${rest#*:}") ;;
    esac
    overrides+=("$name=$value")
  done
  echo "deploying $PREFIX-$stack ($template)"
  started=$(date +%s)
  $AWS cloudformation deploy --stack-name "$PREFIX-$stack" --template-file "$template" \
    --s3-bucket "$ARTIFACT_BUCKET" --s3-prefix "${ARTIFACT_PREFIX}templates" \
    --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset \
    --tags "mesh:prefix=$PREFIX" --parameter-overrides "${overrides[@]}"
  echo "  $PREFIX-$stack: $(( $(date +%s) - started )) s"
done <<< "$plan"
