# certain-marketo Makefile (issue 8 completes it: build, build-<LogicalId>, demo, local-invoke, bench, deploy...)
SHELL := /bin/bash
GO ?= go

.PHONY: test
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
