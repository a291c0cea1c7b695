package config

import (
	"testing"
	"time"
)

// FuzzLoadFile: any configuration file (what LoadFile decodes), JSON or YAML, loads into a valid
// File or gives an error; it never panics, and what loads validates again
// and schedules without panicking.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte(`{"connections":[{"account":"ACME","certainBaseURL":"https://app.certain.com","certainSecret":"s","marketoSecret":"m","fieldMapping":[{"certain":"email","marketo":"email"}]}],"jobs":[{"id":"j","account":"ACME","event":"HS26","type":"sync-leads","name":"n","enabled":true,"schedule":{"cron":"*/15 8-18 * * MON-FRI","timezone":"America/Chicago"},"params":{"statuses":["Attended"]}}]}`), false)
	f.Add([]byte("connections:\n- account: ACME\n  certainBaseURL: http://x\n  allowHTTP: true\njobs: []\n"), true)
	f.Add([]byte(`{"jobs":[{"id":"j","schedule":{"interval":"-5m"}}]}`), false)
	f.Add([]byte("jobs:\n- schedule: {cron: '61 * * * *'}\n"), true)
	f.Add([]byte(`{"connections":[{"fieldMapping":[{"certain":"","marketo":null}]}],"extra":1}`), false)
	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		// LoadFile's steps, in memory (a temporary file per input makes
		// the fuzzer crawl).
		var file File
		var err error
		if yaml {
			err = DecodeYAML(data, &file)
		} else {
			err = DecodeJSON(data, &file)
		}
		if err == nil {
			err = file.Validate()
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := file.Validate(); err != nil {
			t.Fatalf("loaded file does not validate again: %v", err)
		}
		for _, j := range file.Jobs {
			j.Schedule.Next(time.Date(2026, 3, 8, 7, 59, 0, 0, time.UTC)) // DST day in Chicago
		}
	})
}

// FuzzParseJob: a job record (as stored in DynamoDB) and a cron schedule
// parse into a valid job or a clear error, never a panic.
func FuzzParseJob(f *testing.F) {
	f.Add([]byte(`{"id":"t","account":"ACME","event":"HS26","type":"trigger-campaign","name":"n","enabled":true,"schedule":{"interval":"15m"},"params":{"campaignId":2001,"toStatus":"Pre-Registered","tokens":[{"name":"{{my.X}}","value":"v"}]}}`), "0 9 * * 1")
	f.Add([]byte(`{"id":"e","type":"engagement-metrics","params":{"fields":{"key":"k"},"modules":["agenda"]}}`), "*/0 * * * *")
	f.Add([]byte(`{"schedule":{"at":"2026-01-01T00:00:00Z","start":"2027-01-01T00:00:00Z"}}`), "59 23 31 2 *")
	f.Fuzz(func(t *testing.T, data []byte, cron string) {
		j, err := ParseJob(data)
		if err == nil {
			if verr := j.Validate(); verr != nil {
				t.Fatalf("ParseJob accepted a job that does not validate: %v", verr)
			}
		}
		s := Schedule{Cron: cron, Timezone: "America/Chicago"}
		if next, ok := s.Next(time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)); ok && next.IsZero() {
			t.Fatal("Next reported a run at the zero time")
		}
		if _, err := ParseConnection(data); err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
	})
}
