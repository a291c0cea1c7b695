package certain

import "testing"

func TestErrorMessageReducesBodies(t *testing.T) {
	for name, c := range map[string]struct{ body, want string }{
		"servlet html": {`<html><head><title>Apache Tomcat/7.0.55 - Error report</title><style><!--H1 {font-family:Tahoma}--></style></head>` +
			`<body><h1>HTTP Status 400 -  Specified AgendaItem is already associated &amp; cannot be added twice</h1><HR size="1" noshade="noshade">` +
			`<p><b>type</b> Status report</p></body></html>`, "Specified AgendaItem is already associated & cannot be added twice"},
		"servlet text":      {"HTTP Status 400 -  Data fields missing\n", "Data fields missing"},
		"newer servlet":     {"<h1>HTTP Status 404 – Not Found</h1>", "Not Found"},
		"json message":      {`{"status":404,"message":"Please provide registration code"}`, "Please provide registration code"},
		"json errorMessage": {`{"errorMessage":"Cannot update the status"}`, "Cannot update the status"},
		"other html":        {"<html><body><p>Service <b>unavailable</b></p><script>var x=1;</script></body></html>", "Service unavailable"},
		"plain":             {"  Invalid username or password \n", "Invalid username or password"},
	} {
		if got := errorMessage([]byte(c.body)); got != c.want {
			t.Errorf("%s: errorMessage = %q, want %q", name, got, c.want)
		}
	}
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'x'
	}
	if got := errorMessage(long); len([]rune(got)) != 301 {
		t.Errorf("long body cut to %d runes, want 300 and an ellipsis", len([]rune(got)))
	}
}

func TestGetTagsShapes(t *testing.T) {
	for name, c := range map[string]struct {
		item  map[string]any
		field string
		want  []string
	}{
		"strings":        {map[string]any{"tag": []any{"Security", " Cloud "}}, "tag", []string{"Security", "Cloud"}},
		"objects name":   {map[string]any{"tag": []any{map[string]any{"name": "Security"}, map[string]any{"tagName": "AI"}}}, "tag", []string{"Security", "AI"}},
		"objects key":    {map[string]any{"tag": []any{map[string]any{"label": "Security", "id": 4.0}}}, "tag", []string{"Security"}},
		"wrapper":        {map[string]any{"tags": map[string]any{"tag": []any{"checkmate"}}}, "tags", []string{"checkmate"}},
		"wrapper single": {map[string]any{"tags": map[string]any{"tag": "checkmate"}}, "tags", []string{"checkmate"}},
		"path":           {map[string]any{"tags": map[string]any{"tag": []any{"a", "b"}}}, "tags.tag", []string{"a", "b"}},
		"single object":  {map[string]any{"tag": map[string]any{"name": "Solo"}}, "tag", []string{"Solo"}},
		"comma string":   {map[string]any{"tag": "a, b,,c"}, "tag", []string{"a", "b", "c"}},
	} {
		got, present := getTags(c.item, c.field, "label")
		if !present || len(got) != len(c.want) {
			t.Errorf("%s: getTags = %v (present %v), want %v", name, got, present, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: getTags = %v, want %v", name, got, c.want)
			}
		}
	}
	if _, present := getTags(map[string]any{"tags": []any{"x"}}, "tag", "name"); present {
		t.Error("absent field reported present")
	}
}
