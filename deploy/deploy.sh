#!/usr/bin/env bash
# One path from an empty project to a serving endpoint; every step is idempotent, so run it again
# after fixing whatever stopped it. Usage, from a clean checkout of the commit to deploy:
#
#   deploy/deploy.sh PROJECT REGION BUNDLE_DIR VERSION [STACK]
#
#   1. deploy/bootstrap.sh: state bucket, KMS key, stack, APIs, bucket, registry, accounts, secret;
#   2. deploy/upload-bundle.sh: BUNDLE_DIR to gs://<bucket>/models/<modelName>/VERSION;
#   3. Cloud Build (cloudbuild.yaml): tests, the image for this commit (built once), `pulumi up`
#      by digest with modelVersion VERSION: the service, the load balancer, monitoring, the job.
set -euo pipefail

usage="usage: deploy/deploy.sh PROJECT REGION BUNDLE_DIR VERSION [STACK]"
project=${1:?$usage}
region=${2:?$usage}
bundle=${3:?$usage}
version=${4:?$usage}
stack=${5:-prod}
here=$(cd "$(dirname "$0")" && pwd)
# Every command below runs from the repository root; the bundle path is the caller's.
if [ -d "$bundle" ]; then bundle=$(cd "$bundle" && pwd); fi
cd "$here/.."

# The image is tagged with the commit: uncommitted changes would be deployed under a tag that
# does not hold them (and a later build of that commit would reuse the image).
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "commit (or stash) your changes first: the image is tagged with the commit" >&2
  exit 1
fi
if [ ! -d "$bundle" ]; then echo "no bundle directory $bundle" >&2; exit 1; fi

"$here/bootstrap.sh" "$project" "$region" "$stack"

bucket=$(pulumi stack output bucket)
model=$(pulumi config get bn-xtts:modelName 2>/dev/null || echo bn-xtts)
name=$(pulumi config get bn-xtts:name 2>/dev/null || echo bn-tts)
# The image for the stack's hardware (server-gpu or server-cpu): the preflight refuses the other.
if [ "$(pulumi config get bn-xtts:gpuType 2>/dev/null || true)" = none ]; then target=cpu; else target=gpu; fi
"$here/upload-bundle.sh" "$bundle" "gs://$bucket/models/$model/$version"

# As the deployer account bootstrap.sh set up (Cloud Build's default account may have no roles).
gcloud builds submit --config cloudbuild.yaml --project "$project" \
  --service-account "projects/$project/serviceAccounts/bn-tts-deployer@$project.iam.gserviceaccount.com" \
  --substitutions="COMMIT_SHA=$(git rev-parse HEAD),_PULUMI_STACK=$stack,_REGION=$region,_REPOSITORY=$name,_BUCKET=$bucket,_TARGET=$target,_MODEL_VERSION=$version"

echo "load balancer IP (point an A record for the domain at it): $(pulumi stack output load_balancer_ip)"
echo "serving at $(pulumi stack output url) once the certificate is active (15-60 minutes after DNS)"
