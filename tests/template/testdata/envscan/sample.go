package sample

import "os"

const queueVar = "SAMPLE_QUEUE_URL"

func settings(lookup func(string) (string, bool)) {
	_ = os.Getenv("SAMPLE_DIRECT")
	_, _ = os.LookupEnv(queueVar)
	get := func(k string) string { v, _ := lookup(k); return v }
	_ = get("SAMPLE_VIA_HELPER")
	_, _ = lookup("SAMPLE_VIA_LOOKUP")
	_ = os.Getenv("AWS_LAMBDA_LOG_LEVEL")
	_ = errorf("NOT_AN_ENV_NAME")
}

func errorf(string) error { return nil }
