package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestHTTPBasesFromMessagingURL(t *testing.T) {
	tests := []struct {
		name, url, httpURL string
		want               []string
		wantErr            string
	}{
		{"default port", "tcp://localhost:61616", "", []string{"http://localhost:8161"}, ""},
		{"port offset", "tcp://10.0.0.5:61617", "", []string{"http://10.0.0.5:8162"}, ""},
		{"classic failover list", "failover:(tcp://a:61616,tcp://b:61717)?randomize=false", "",
			[]string{"http://a:8161", "http://b:8262"}, ""},
		{"artemis list", "(tcp://a:61616,tcp://b:61617)?ha=true", "", []string{"http://a:8161", "http://b:8162"}, ""},
		{"port below the base", "tcp://localhost:5000", "", nil, "pass --http-url"},
		{"bad url", "nonsense://x", "", nil, "--url"},
		{"override", "tcp://ignored:1", "http://h:9000/, https://g:9001", []string{"http://h:9000", "https://g:9001"}, ""},
		{"override without scheme", "", "h:9000", nil, "must start with http://"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mgmtFlags{url: tc.url, httpURL: tc.httpURL}
			got, err := f.httpBases()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("httpBases() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("httpBases() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPipeTableAlignsColumns(t *testing.T) {
	var out bytes.Buffer
	printPipeTable(&out, [][]string{{"NAME", "MESSAGE_COUNT"}, {"a-long-queue-name", "7"}})
	want := "|NAME              |MESSAGE_COUNT |\n|a-long-queue-name |7             |\n"
	if out.String() != want {
		t.Fatalf("table =\n%s\nwant\n%s", out.String(), want)
	}
}

// TestPipeTableAlignsNonASCII checks that names in other scripts keep the
// columns in line: accents take one column, CJK two, combining marks none.
func TestPipeTableAlignsNonASCII(t *testing.T) {
	var out bytes.Buffer
	printPipeTable(&out, [][]string{{"NAME", "N"}, {"commandes.été", "1"}, {"注文", "2"}, {"e\u0301te\u0301", "3"}, {"orders", "4"}})
	want := "|NAME          |N |\n" +
		"|commandes.été |1 |\n" +
		"|注文          |2 |\n" +
		"|e\u0301te\u0301           |3 |\n" +
		"|orders        |4 |\n"
	if out.String() != want {
		t.Fatalf("table =\n%s\nwant\n%s", out.String(), want)
	}
	for _, tc := range []struct {
		s string
		w int
	}{{"abc", 3}, {"été", 3}, {"注文", 4}, {"e\u0301", 1}, {"ｆｕｌｌ", 8}, {"🚀", 2}} {
		if got := displayWidth(tc.s); got != tc.w {
			t.Errorf("displayWidth(%q) = %d, want %d", tc.s, got, tc.w)
		}
	}
}

func TestQueuePathEscapesEveryName(t *testing.T) {
	for name, want := range map[string]string{
		"orders": "/api/queues/orders", "a/b": "/api/queues/a%2Fb", "a#b": "/api/queues/a%23b",
		"..": "/api/queues/%2E%2E", ".": "/api/queues/%2E", "a..b": "/api/queues/a..b", "été": "/api/queues/%C3%A9t%C3%A9",
	} {
		if got := queuePath(name); got != want {
			t.Errorf("queuePath(%q) = %q, want %q", name, got, want)
		}
	}
}
