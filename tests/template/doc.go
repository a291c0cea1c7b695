// Package template holds the tests of template.yaml and the Makefile that cfn-lint
// cannot do: cfn-lint validates the SAM transform and resource schemas, but it does not know
// that every function must be arm64 provided.al2023 built by the Makefile, that the SQS
// consumer must report partial batch failures, that the queue's visibility must cover six
// consumer timeouts, that policies stay scoped to this stack's resources, or that every
// environment variable the code reads is declared (sam local invoke --env-vars silently
// ignores undeclared ones). A mistake in any of these only shows after deployment, as lost or
// duplicated messages, a function that cannot start, or a permission too wide; these tests
// make it a failing `make test` instead.
//
// The package has no non-test code; run it with `go test ./tests/template`.
package template
