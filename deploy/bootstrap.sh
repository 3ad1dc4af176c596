#!/usr/bin/env bash
# From an empty project to the stack's foundation; safe to run again at any point (every step checks
# before it creates). Usage, from the repository root:
#
#   deploy/bootstrap.sh PROJECT REGION [STACK]
#
# 1. enables the APIs Pulumi itself needs before the program can enable the rest (infra/apis.py);
# 2. creates the state bucket gs://PROJECT-pulumi-state (versioned) and the KMS key for secrets;
# 3. logs Pulumi into that backend and creates (or selects) the stack;
# 4. sets gcp:project and gcp:region, and stops with the exact commands if domain, alertEmail or
#    apiKeys are still unset;
# 5. runs `pulumi up`: on a new project this creates the bucket, the registry, the accounts, the
#    API-key secret and the APIs, and no service (there is no bundle or image yet); once a release
#    is deployed it re-applies that release (a no-op), and refuses to run if the preview plans to
#    delete or replace anything.
#
# 6. creates (or updates) the pipeline's deployer account bn-tts-deployer with exactly the roles the
#    build needs (deploy.sh runs the build as it).
#
# Next: deploy/upload-bundle.sh, then the Cloud Build pipeline (docs/deploy-gcp.md).
set -euo pipefail

usage="usage: deploy/bootstrap.sh PROJECT REGION [STACK]"
project=${1:?$usage}
region=${2:?$usage}
stack=${3:-prod}
state="gs://$project-pulumi-state"
keyring=pulumi
key=state
secrets="gcpkms://projects/$project/locations/global/keyRings/$keyring/cryptoKeys/$key"

say() { printf '==> %s\n' "$*"; }
cd "$(dirname "$0")/.."  # Pulumi.yaml and infra/policy are read from the repository root

say "APIs Pulumi needs first (the program enables the others)"
gcloud services enable serviceusage.googleapis.com cloudresourcemanager.googleapis.com \
  cloudkms.googleapis.com storage.googleapis.com --project "$project"

if gcloud storage buckets describe "$state" --project "$project" >/dev/null 2>&1; then
  say "state bucket $state exists"
else
  say "creating the state bucket $state"
  gcloud storage buckets create "$state" --project "$project" --location "$region" \
    --uniform-bucket-level-access --public-access-prevention
fi
# On every run, not only at creation: a state bucket made by hand keeps every generation too.
gcloud storage buckets update "$state" --versioning

if gcloud kms keyrings describe "$keyring" --location global --project "$project" >/dev/null 2>&1; then
  say "KMS key ring $keyring exists"
else
  say "creating the KMS key ring $keyring"
  gcloud kms keyrings create "$keyring" --location global --project "$project"
fi
if gcloud kms keys describe "$key" --keyring "$keyring" --location global --project "$project" >/dev/null 2>&1; then
  say "KMS key $key exists"
else
  say "creating the KMS key $key (encrypts the stack's secrets)"
  gcloud kms keys create "$key" --keyring "$keyring" --location global --purpose encryption --project "$project"
fi

pulumi login "$state"
if pulumi stack select "$stack" >/dev/null 2>&1; then
  say "stack $stack exists"
else
  say "creating the stack $stack"
  pulumi stack init "$stack" --secrets-provider "$secrets"
fi

for setting in "gcp:project=$project" "gcp:region=$region"; do
  name=${setting%%=*}
  if [ -z "$(pulumi config get "$name" 2>/dev/null || true)" ]; then
    pulumi config set "$name" "${setting#*=}"
  fi
done
missing=()
for name in domain alertEmail apiKeys; do
  pulumi config get "bn-xtts:$name" >/dev/null 2>&1 || missing+=("$name")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Set these first, then run deploy/bootstrap.sh again:" >&2
  for name in "${missing[@]}"; do
    case $name in
      domain) echo "  pulumi config set domain tts.example.com" >&2 ;;
      alertEmail) echo "  pulumi config set alertEmail oncall@example.com" >&2 ;;
      apiKeys) echo "  pulumi config set --secret apiKeys \"\$(openssl rand -hex 24),\$(openssl rand -hex 24)\"" >&2 ;;
    esac
  done
  exit 2
fi

# The release (image, model version) comes from the release record the program keeps in the
# bucket, not from the stack file; an image left here would make this run try to deploy it.
if pulumi config get bn-xtts:image >/dev/null 2>&1; then
  say "removing bn-xtts:image from the stack file (the release record is the source of truth)"
  pulumi config rm bn-xtts:image
fi

if pulumi stack output release_record >/dev/null 2>&1; then
  # A release is deployed: an unattended `up --yes` must not remove anything (docs/deploy-gcp.md "No run may
  # tear down the live edge"). Preview first; any delete or replace is for a person to review.
  say "pulumi preview (a release is deployed: this run must remove nothing)"
  removals=$(pulumi preview --json --policy-pack infra/policy | python3 -c '
import json, sys
gone = ("delete", "replace", "create-replacement", "delete-replaced", "discard")
for step in json.load(sys.stdin).get("steps") or []:
    if step.get("op") in gone:
        print("  " + step["op"] + " " + step.get("urn", ""))')
  if [ -n "$removals" ]; then
    echo "bootstrap.sh: the preview plans to remove or replace resources of a deployed stack:" >&2
    echo "$removals" >&2
    echo "nothing was changed; review with: pulumi preview --diff --policy-pack infra/policy" >&2
    echo "and run pulumi up yourself if that is what you want" >&2
    exit 1
  fi
fi
say "pulumi up (the foundation, or the deployed release again)"
pulumi up --yes --policy-pack infra/policy

# The pipeline's own identity. Projects created since mid-2024 may give Cloud Build's default
# account no roles (https://cloud.google.com/build/docs/cloud-build-service-account-updates), so the
# build runs as this account (deploy.sh passes it) with exactly what `pulumi up` and the push need:
# the project roles below, Logs Writer (the build logs to Cloud Logging only), encrypt/decrypt on the
# state key and object admin on the state bucket (not project-wide), and actAs on the three runtime
# accounts the stack deploys as, not on every account of the project.
deployer="bn-tts-deployer@$project.iam.gserviceaccount.com"
if gcloud iam service-accounts describe "$deployer" --project "$project" >/dev/null 2>&1; then
  say "deployer account $deployer exists"
else
  say "creating the deployer account $deployer"
  gcloud iam service-accounts create bn-tts-deployer --project "$project" \
    --display-name "Bangla TTS deploy pipeline"
fi
for role in run.admin compute.loadBalancerAdmin compute.securityAdmin storage.admin \
    artifactregistry.admin iam.serviceAccountAdmin secretmanager.admin monitoring.editor \
    logging.configWriter logging.logWriter cloudscheduler.admin serviceusage.serviceUsageAdmin; do
  gcloud projects add-iam-policy-binding "$project" --member "serviceAccount:$deployer" \
    --role "roles/$role" --condition None >/dev/null
done
gcloud kms keys add-iam-policy-binding "$key" --keyring "$keyring" --location global --project "$project" \
  --member "serviceAccount:$deployer" --role roles/cloudkms.cryptoKeyEncrypterDecrypter >/dev/null
gcloud storage buckets add-iam-policy-binding "$state" --member "serviceAccount:$deployer" \
  --role roles/storage.objectAdmin >/dev/null
for output in runtime_service_account batch_service_account invoker_service_account; do
  account=$(pulumi stack output "$output")
  gcloud iam service-accounts add-iam-policy-binding "$account" --project "$project" \
    --member "serviceAccount:$deployer" --role roles/iam.serviceAccountUser >/dev/null
done
say "next: deploy/upload-bundle.sh BUNDLE_DIR gs://$(pulumi stack output bucket)/models/NAME/VERSION"
