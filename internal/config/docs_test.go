package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsCoverEveryKey keeps docs/configuration.md in step with the parser:
// every key of testdata/full.yaml (which sets every key) is documented, and
// the complete example in the docs is that file.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(full, "full.yaml", "/i")
	if err != nil {
		t.Fatal(err)
	}
	for path := range c.lines {
		key := path
		if i := strings.LastIndexAny(path, ".]"); i >= 0 {
			key = path[i+1:]
		}
		if key == "" || strings.HasSuffix(path, "]") {
			continue // a list element or a user-chosen name
		}
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/configuration.md does not document %s (from %s)", "`"+key+"`", path)
		}
	}
	// The example is the file without its two-line comment header.
	body := string(full)
	body = body[strings.Index(body, "name:"):]
	if !strings.Contains(string(doc), "```yaml\n"+body+"```") {
		t.Error("the complete example in docs/configuration.md differs from testdata/full.yaml; copy it over")
	}
}
