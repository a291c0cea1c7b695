// Package e2e holds the end-to-end test of the deployed shape without AWS
// or Docker: every function's real bootstrap, built for the host, runs under
// aws-lambda-rie with the environment template.yaml declares, against
// moto_server (DynamoDB, SQS, Secrets Manager) and the Marketo and Certain
// simulators, and the test checks what each invocation did to them. Unit and
// in-process tests cannot show that the pieces a Lambda only meets when
// deployed fit together: the environment it is given, credentials read by id
// from Secrets Manager, the store's tables, the change queue between the
// detector and trigger-campaign, and JSON in and out of the runtime API.
//
// The package has no non-test code; run it with `go test ./tests/e2e`
// (make test runs it). It fails, never skips, when aws-lambda-rie or
// moto_server is missing.
package e2e
