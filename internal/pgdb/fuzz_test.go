package pgdb

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRedact checks that Redact never lets a URL's password through, in
// the user-info part or the query, whatever surrounds it, and never
// panics.
func FuzzRedact(f *testing.F) {
	for _, seed := range []struct{ host, query, password string }{
		{"db:5432/t", "", "s3cret"},
		{"db/t", "sslmode=require", "p@ss:w/rd"},
		{"[::1]:5432/t", "application_name=x", "%41%42%43%44"},
		{"h", "user=u", "pässwörd"},
	} {
		f.Add(seed.host, seed.query, seed.password)
	}
	f.Fuzz(func(t *testing.T, host, query, password string) {
		if len(password) < 4 || strings.Contains(host, password) || strings.Contains(query, password) ||
			strings.Contains("postgresqljdbc:xxxxx", password) {
			return // too short to be told apart from the rest of the URL
		}
		for _, raw := range []string{
			"postgres://u:" + url.PathEscape(password) + "@" + host + "?" + query,
			"jdbc:postgresql://" + host + "?" + query + "&password=" + url.QueryEscape(password),
		} {
			out := Redact(raw)
			for _, form := range []string{password, url.PathEscape(password), url.QueryEscape(password)} {
				if len(form) >= 4 && strings.Contains(out, form) {
					t.Fatalf("Redact(%q) = %q still shows the password", raw, out)
				}
			}
		}
	})
}
