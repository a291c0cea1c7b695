# certain-marketo Makefile. `make help` lists the targets.
#
# SAM builds each function with `make build-<LogicalId> ARTIFACTS_DIR=...` (BuildMethod makefile,
# CodeUri .), and the same flags build bin/<fn>/bootstrap without SAM. Tools the targets need are
# installed at pinned versions into ./.tools/bin by this Makefile; the Python tools (moto_server,
# cfn-lint) come from pip, which .ci/run handles.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go

# ---------------------------------------------------------------- functions
FUNCTIONS := import-leads trigger-campaign sync-leads engagement-metrics interest-metrics registration-changes
FN_ImportLeadsFunction         := import-leads
FN_TriggerCampaignFunction     := trigger-campaign
FN_SyncLeadsFunction           := sync-leads
FN_EngagementMetricsFunction   := engagement-metrics
FN_InterestMetricsFunction     := interest-metrics
FN_RegistrationChangesFunction := registration-changes
LOGICAL_IDS := ImportLeadsFunction TriggerCampaignFunction SyncLeadsFunction EngagementMetricsFunction InterestMetricsFunction RegistrationChangesFunction

# Lambda build flags (docs/architecture.md §11): static, no RPC shim, stripped, reproducible.
LAMBDA_ARCH    ?= arm64
GOFLAGS_LAMBDA := -tags lambda.norpc -trimpath -buildvcs=false -ldflags="-s -w"
LAMBDA_ENV     := CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH)
HOST_ARCH      := $(shell $(GO) env GOARCH 2>/dev/null)

# ---------------------------------------------------------------- pinned tools
TOOLS_DIR         := $(CURDIR)/.tools
TOOLS_BIN         := $(TOOLS_DIR)/bin
RIE_VERSION       := v0.0.0-20261030222936-bef5c4ba774d
BENCHSTAT_VERSION := v0.0.0-20260908200009-22c9c6c9d4da
STATICCHECK_VERSION := v0.8.2
STATICCHECK       := $(TOOLS_DIR)/bin/staticcheck
STATICCHECK_STAMP := $(TOOLS_DIR)/stamp/staticcheck@$(STATICCHECK_VERSION)
RIE               := $(TOOLS_BIN)/aws-lambda-rie
BENCHSTAT         := $(TOOLS_BIN)/benchstat
RIE_STAMP         := $(TOOLS_DIR)/stamp/aws-lambda-rie@$(RIE_VERSION)
BENCHSTAT_STAMP   := $(TOOLS_DIR)/stamp/benchstat@$(BENCHSTAT_VERSION)
CFN_LINT          ?= cfn-lint
MOTO_SERVER       ?= moto_server
PY_TOOLS_HINT     := pip install 'moto[server]==5.2.1' cfn-lint==1.51.0  (or run .ci/run, which tries it)

# ---------------------------------------------------------------- local servers (make local-up)
RUN_DIR           := $(TOOLS_DIR)/run
MOTO_PORT         ?= 4566
MARKETO_SIM_PORT  ?= 8089
CERTAIN_SIM_PORT  ?= 8081
RIE_PORT          ?= 9080
RIE_API_PORT      ?= 9081
LOCAL_AWS_ENDPOINT ?= http://127.0.0.1:$(MOTO_PORT)
LOCAL_STAGE       ?= local
LOCAL_CONFIG_TABLE ?= certain-marketo-local-config
LOCAL_STATE_TABLE ?= certain-marketo-local-state
LOCAL_QUEUE       ?= certain-marketo-local-changes
LOCAL_QUEUE_URL   ?= $(LOCAL_AWS_ENDPOINT)/123456789012/$(LOCAL_QUEUE)
# One local work queue for whichever function local-invoke runs (deployed, each has its own).
LOCAL_WORK_QUEUE  ?= certain-marketo-local-work
LOCAL_WORK_QUEUE_URL ?= $(LOCAL_AWS_ENDPOINT)/123456789012/$(LOCAL_WORK_QUEUE)
LOCAL_TIMEOUT     ?= 120
LOCAL_LOG_LEVEL   ?= DEBUG
# Local-only credentials of the simulators (never real ones).
MARKETO_SIM_CLIENT_SECRET ?= local-sim-secret
CERTAIN_SIM_PASSWORD      ?= local-sim-password

# Dummy credentials and region for moto_server; the SDK honours AWS_ENDPOINT_URL.
LOCAL_AWS_ENV := AWS_ENDPOINT_URL=$(LOCAL_AWS_ENDPOINT) AWS_REGION=us-east-1 \
	AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_EC2_METADATA_DISABLED=true

# require NAME,HINT: fail with a message naming the missing tool and how to get it.
require = command -v $(1) >/dev/null 2>&1 || { echo "make: '$(1)' is not installed (needed by '$@'). Install it: $(2)" >&2; exit 127; }

.PHONY: help build build-local test test-unit cover lint demo local-invoke local-up local-down bench bench-go soak deploy clean tools \
	$(addprefix build-,$(LOGICAL_IDS))

help: ## list the targets
	@echo "certain-marketo: make <target>"
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo "  build-<LogicalId> one function for sam build: $(LOGICAL_IDS)"
	@echo "Variables: FN=<dir> EVENT=<file> for local-invoke; LAMBDA_ARCH (default arm64); GO."

# ---------------------------------------------------------------- build
build: ## arm64 Lambda bootstraps into bin/<fn>/bootstrap
	@for f in $(FUNCTIONS); do \
	  echo "build bin/$$f/bootstrap ($(LAMBDA_ARCH))"; \
	  $(LAMBDA_ENV) $(GO) build $(GOFLAGS_LAMBDA) -o bin/$$f/bootstrap ./functions/$$f; \
	done

# build-<LogicalId>: what `sam build` runs, with ARTIFACTS_DIR set, for every function.
define BUILD_LOGICAL_ID
build-$(1):
	@test -n "$$(ARTIFACTS_DIR)" || { echo "make: ARTIFACTS_DIR is not set (sam build sets it; by hand: make build-$(1) ARTIFACTS_DIR=dir)" >&2; exit 2; }
	$$(LAMBDA_ENV) $$(GO) build $$(GOFLAGS_LAMBDA) -o $$(ARTIFACTS_DIR)/bootstrap ./functions/$$(FN_$(1))
endef
$(foreach id,$(LOGICAL_IDS),$(eval $(call BUILD_LOGICAL_ID,$(id))))

build-local: ## host-architecture bootstraps into bin/local/<fn>/bootstrap (for aws-lambda-rie)
	@for f in $(FUNCTIONS); do \
	  echo "build bin/local/$$f/bootstrap ($(HOST_ARCH))"; \
	  CGO_ENABLED=0 GOARCH=$(HOST_ARCH) $(GO) build -tags lambda.norpc -o bin/local/$$f/bootstrap ./functions/$$f; \
	done

# ---------------------------------------------------------------- tools
tools: $(RIE_STAMP) $(BENCHSTAT_STAMP) $(STATICCHECK_STAMP) ## install the pinned Go tools (aws-lambda-rie, benchstat, staticcheck) into .tools/bin

$(RIE_STAMP):
	@echo "install aws-lambda-rie@$(RIE_VERSION) into $(TOOLS_BIN)"
	@mkdir -p $(TOOLS_BIN) $(dir $@)
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)
	@touch $@

$(BENCHSTAT_STAMP):
	@echo "install benchstat@$(BENCHSTAT_VERSION) into $(TOOLS_BIN)"
	@mkdir -p $(TOOLS_BIN) $(dir $@)
	GOBIN=$(TOOLS_BIN) $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)
	@touch $@

$(STATICCHECK_STAMP):
	@echo "install staticcheck@$(STATICCHECK_VERSION) into $(TOOLS_BIN)"
	@mkdir -p $(TOOLS_BIN) $(dir $@)
	GOBIN=$(TOOLS_BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@

# ---------------------------------------------------------------- test and lint
# GOFMT_CHECK fails naming every tracked Go file gofmt would change.
GOFMT_CHECK = unformatted="$$(git ls-files -z '*.go' 2>/dev/null | xargs -0 -r gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt: these files need formatting (gofmt -w):" >&2; echo "$$unformatted" >&2; exit 1; fi

# Tests find aws-lambda-rie on PATH (and in AWS_LAMBDA_RIE) and moto_server on PATH.
test: $(RIE_STAMP) ## gofmt check, go vet, cfn-lint template.yaml, go test -race ./...
	@$(call require,$(CFN_LINT),$(PY_TOOLS_HINT))
	@$(call require,$(MOTO_SERVER),$(PY_TOOLS_HINT))
	@$(GOFMT_CHECK)
	$(GO) vet ./...
	$(CFN_LINT) template.yaml
	PATH="$(TOOLS_BIN):$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) test -race -count=1 ./...

# test-unit needs nothing but Go: -short skips, in one place (lib/testkit/external), every test
# that starts moto_server, the Runtime Interface Emulator, cfn-lint or the SAM translator.
test-unit: ## the unit loop: go vet and go test -short ./... (Go only; no moto, no emulator, no cfn-lint)
	@$(GOFMT_CHECK)
	$(GO) vet ./...
	$(GO) test -short -count=1 ./...

# cover: the unit loop with coverage of the product's packages (FULL=1: the whole suite, which
# needs what make test needs). Writes .cover/coverage.out and .cover/coverage.html.
COVER_PKGS := ./lib/...,./functions/...
cover: $(if $(FULL),$(RIE_STAMP)) ## coverage report into .cover/coverage.html (FULL=1 for the whole suite)
	@mkdir -p .cover
	PATH="$(TOOLS_BIN):$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) test $(if $(FULL),,-short) -count=1 -coverpkg=$(COVER_PKGS) -coverprofile=.cover/coverage.out ./... >/dev/null
	$(GO) tool cover -html=.cover/coverage.out -o .cover/coverage.html
	@$(GO) tool cover -func=.cover/coverage.out | tail -1
	@echo "make cover: report in .cover/coverage.html"

lint: $(STATICCHECK_STAMP) ## gofmt check, go vet, staticcheck, cfn-lint
	@$(call require,$(CFN_LINT),$(PY_TOOLS_HINT))
	@$(GOFMT_CHECK)
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(CFN_LINT) template.yaml

# ---------------------------------------------------------------- local experience
demo: ## run every job end to end against in-process simulators (Go only)
	$(GO) run ./infra/demo

local-up: ## start moto_server and the Marketo/Certain simulators on 127.0.0.1, create tables and queue
	@$(call require,$(MOTO_SERVER),$(PY_TOOLS_HINT))
	@mkdir -p $(RUN_DIR)
	@if curl -s -o /dev/null $(LOCAL_AWS_ENDPOINT)/moto-api/; then echo "moto_server already answers at $(LOCAL_AWS_ENDPOINT)"; else \
	  $(MOTO_SERVER) -H 127.0.0.1 -p $(MOTO_PORT) >$(RUN_DIR)/moto.log 2>&1 & echo $$! >$(RUN_DIR)/moto.pid; \
	  for i in $$(seq 50); do curl -s -o /dev/null $(LOCAL_AWS_ENDPOINT)/moto-api/ && break; sleep 0.2; done; \
	  echo "moto_server on $(LOCAL_AWS_ENDPOINT) (log $(RUN_DIR)/moto.log)"; fi
	$(GO) build -o $(RUN_DIR)/marketo-sim ./infra/marketo-sim
	$(GO) build -o $(RUN_DIR)/certain-sim ./infra/certain-sim
	@echo "start marketo-sim on 127.0.0.1:$(MARKETO_SIM_PORT) and certain-sim on 127.0.0.1:$(CERTAIN_SIM_PORT) (logs in $(RUN_DIR))"
	@MARKETO_SIM_CLIENT_SECRET=$(MARKETO_SIM_CLIENT_SECRET) $(RUN_DIR)/marketo-sim -addr 127.0.0.1:$(MARKETO_SIM_PORT) >$(RUN_DIR)/marketo-sim.log 2>&1 & echo $$! >$(RUN_DIR)/marketo-sim.pid
	@CERTAIN_SIM_PASSWORD=$(CERTAIN_SIM_PASSWORD) $(RUN_DIR)/certain-sim -port $(CERTAIN_SIM_PORT) >$(RUN_DIR)/certain-sim.log 2>&1 & echo $$! >$(RUN_DIR)/certain-sim.pid
	@for t in $(LOCAL_CONFIG_TABLE) $(LOCAL_STATE_TABLE); do \
	  $(call moto_json,dynamodb,application/x-amz-json-1.0,DynamoDB_20120810.CreateTable,{"TableName":"'$$t'"$(COMMA)"BillingMode":"PAY_PER_REQUEST"$(COMMA)"AttributeDefinitions":[{"AttributeName":"pk"$(COMMA)"AttributeType":"S"}$(COMMA){"AttributeName":"sk"$(COMMA)"AttributeType":"S"}]$(COMMA)"KeySchema":[{"AttributeName":"pk"$(COMMA)"KeyType":"HASH"}$(COMMA){"AttributeName":"sk"$(COMMA)"KeyType":"RANGE"}]}); \
	done
	@$(call moto_json,sqs,application/x-amz-json-1.0,AmazonSQS.CreateQueue,{"QueueName":"$(LOCAL_QUEUE)"})
	@$(call moto_json,sqs,application/x-amz-json-1.0,AmazonSQS.CreateQueue,{"QueueName":"$(LOCAL_WORK_QUEUE)"})
	@echo "Marketo simulator http://127.0.0.1:$(MARKETO_SIM_PORT), Certain simulator http://127.0.0.1:$(CERTAIN_SIM_PORT)"
	@echo "tables $(LOCAL_CONFIG_TABLE), $(LOCAL_STATE_TABLE); change queue $(LOCAL_QUEUE_URL); work queue $(LOCAL_WORK_QUEUE_URL)"
	@echo "Seed connections and jobs with the operator command (infra/cmctl), then: make local-invoke FN=<dir> EVENT=events/<file>.json"

COMMA := ,
# moto_json SERVICE,CONTENT_TYPE,TARGET,BODY: one JSON-protocol call to moto_server (it reads the
# region from the credential scope and does not check the signature). Existing resources are fine.
moto_json = curl -s -o /dev/null -w '' -X POST $(LOCAL_AWS_ENDPOINT)/ \
	-H 'Content-Type: $(2)' -H 'X-Amz-Target: $(3)' \
	-H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/$(1)/aws4_request, SignedHeaders=host, Signature=0' \
	-d '$(4)'

local-down: ## stop what local-up started (by the pids it recorded)
	@for p in $(RUN_DIR)/*.pid; do [ -e "$$p" ] || continue; kill "$$(cat $$p)" 2>/dev/null || true; rm -f "$$p"; done; echo "stopped"

local-invoke: $(RIE_STAMP) ## run one function under aws-lambda-rie: make local-invoke FN=sync-leads EVENT=events/sqs-run-job.json
	@test -n "$(FN)" || { echo "make: set FN to one of: $(FUNCTIONS)" >&2; exit 2; }
	@case " $(FUNCTIONS) " in *" $(FN) "*) ;; *) echo "make: FN=$(FN) is not a function; want one of: $(FUNCTIONS)" >&2; exit 2;; esac
	@test -n "$(EVENT)" || { echo "make: set EVENT to a file in events/ (e.g. EVENT=events/direct-run.json)" >&2; exit 2; }
	@test -f "$(EVENT)" || { echo "make: EVENT file $(EVENT) does not exist" >&2; exit 2; }
	@curl -s -o /dev/null $(LOCAL_AWS_ENDPOINT)/moto-api/ || { echo "make: nothing answers at $(LOCAL_AWS_ENDPOINT); start the local servers with 'make local-up'" >&2; exit 2; }
	CGO_ENABLED=0 GOARCH=$(HOST_ARCH) $(GO) build -tags lambda.norpc -o bin/local/$(FN)/bootstrap ./functions/$(FN)
	@env $(LOCAL_AWS_ENV) STAGE=$(LOCAL_STAGE) CONFIG_TABLE=$(LOCAL_CONFIG_TABLE) STATE_TABLE=$(LOCAL_STATE_TABLE) \
	  CHANGE_QUEUE_URL=$(LOCAL_QUEUE_URL) WORK_QUEUE_URL=$(LOCAL_WORK_QUEUE_URL) MARKETO_BUDGET_MODE=shared \
	  AWS_LAMBDA_FUNCTION_TIMEOUT=$(LOCAL_TIMEOUT) AWS_LAMBDA_LOG_FORMAT=JSON AWS_LAMBDA_LOG_LEVEL=$(LOCAL_LOG_LEVEL) \
	  $(RIE) --runtime-interface-emulator-address 127.0.0.1:$(RIE_PORT) --runtime-api-address 127.0.0.1:$(RIE_API_PORT) \
	  bin/local/$(FN)/bootstrap & rie=$$!; trap 'kill $$rie 2>/dev/null || true' EXIT; \
	for i in $$(seq 50); do curl -s -o /dev/null http://127.0.0.1:$(RIE_PORT)/ && break; sleep 0.1; done; \
	resp="$$(curl -sS -X POST --data-binary @$(EVENT) http://127.0.0.1:$(RIE_PORT)/2015-03-31/functions/function/invocations)"; \
	echo "--- response of $(FN) to $(EVENT):"; echo "$$resp"; \
	case "$$resp" in *'"errorType"'*) echo "make: $(FN) returned an error" >&2; exit 1;; esac

# ---------------------------------------------------------------- performance
BENCH_ARGS ?=
bench: $(BENCHSTAT_STAMP) $(RIE_STAMP) ## full benchmark report into .bench/ (Marketo calls, throughput, memory, cold start, pipeline at real latencies, the sync-leads process's peak RSS, the 1,000-event scale scenario; about 20 min; BENCH_ARGS=-scale-only for the scale alone)
	@$(call require,$(MOTO_SERVER),$(PY_TOOLS_HINT))
	@start=$$(date +%s); PATH="$(TOOLS_BIN):$$PATH" AWS_LAMBDA_RIE=$(RIE) $(GO) run ./infra/bench $(BENCH_ARGS); \
	echo "make bench: $$(( $$(date +%s) - start )) s"

bench-go: ## Go benchmarks of the hot paths, benchstat-comparable, into .bench/gobench.txt
	@mkdir -p .bench
	$(GO) test -run '^$$' -bench 'LeadPayload|PayloadHash|LeadBatch' -count 6 ./lib/jobs/ | tee .bench/gobench.txt

SOAK_DURATION ?= 10m
GENERATED_SEEDS ?= 3,7,11,19,2026
GENERATED_REGISTRATIONS ?= 1000
SEED ?=
soak: ## randomised fault run of tests/reliability (SOAK_DURATION, default 10m; SEED to replay one), then fault-free runs over generated data sets (GENERATED_SEEDS)
	$(GO) test ./tests/reliability -run 'TestSoak|TestGeneratedDataSetsNoFaults' -v -count=1 -timeout 0 -soak.duration=$(SOAK_DURATION) $(if $(SEED),-soak.seed=$(SEED)) \
		-generated.seeds=$(GENERATED_SEEDS) -generated.registrations=$(GENERATED_REGISTRATIONS)

# ---------------------------------------------------------------- deploy
deploy: ## sam build && sam deploy (CONFIG_ENV=prod for production)
	@$(call require,sam,see https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html)
	sam build
	sam deploy $(if $(CONFIG_ENV),--config-env $(CONFIG_ENV))

clean: ## remove build output (bin/, .aws-sam/, .cover/); keeps .tools/
	rm -rf bin .aws-sam .cover
