package config

import (
	"errors"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"-1", -1}, {"1024", 1024}, {"10MiB", 10 << 20}, {"10M", 10 << 20}, {"10MB", 10 << 20},
		{"10mb", 10 << 20}, {"512KiB", 512 << 10}, {"512k", 512 << 10}, {"512 KiB", 512 << 10},
		{"1GiB", 1 << 30}, {"2g", 2 << 30}, {"1T", 1 << 40}, {"100b", 100}, {" 7 ", 7}, {"1Ki", 1024},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "MiB", "10XB", "10 MiBs", "1.5MiB", "-1MiB", "10iB", "10bb", "99999999999999999999", "9999999999999T"} {
		if _, err := ParseSize(in); !errors.Is(err, ErrBadSize) {
			t.Errorf("ParseSize(%q) err = %v, want ErrBadSize", in, err)
		}
	}
}

func TestFormatSizeRoundTrip(t *testing.T) {
	for _, n := range []int64{-1, 0, 1, 1000, 1024, 10 << 20, 100 << 10, 3 << 30, 1<<20 + 1, 5 << 40} {
		s := FormatSize(n)
		back, err := ParseSize(s)
		if err != nil || back != n {
			t.Errorf("FormatSize(%d) = %q, reads back as %d, %v", n, s, back, err)
		}
	}
	if got := FormatSize(10 << 20); got != "10MiB" {
		t.Errorf("FormatSize(10MiB) = %q", got)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		unit time.Duration
		want time.Duration
	}{
		{"500us", time.Nanosecond, 500 * time.Microsecond},
		{"500000", time.Nanosecond, 500 * time.Microsecond},
		{"5000", time.Millisecond, 5 * time.Second},
		{"1m30s", time.Millisecond, 90 * time.Second},
		{"-1", time.Millisecond, -time.Millisecond},
		{"0", time.Millisecond, 0},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in, tc.unit)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q, %v) = %v, %v; want %v", tc.in, tc.unit, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "5 seconds", "1.5", "99999999999999999", "s"} {
		if _, err := ParseDuration(in, time.Millisecond); !errors.Is(err, ErrBadDuration) {
			t.Errorf("ParseDuration(%q) err = %v, want ErrBadDuration", in, err)
		}
	}
	for _, d := range []time.Duration{NoExpiryDelay, 0, 500 * time.Microsecond, 90 * time.Second} {
		back, err := ParseDuration(FormatDuration(d), time.Millisecond)
		if d == NoExpiryDelay {
			// "-1" counts milliseconds; the expiry-delay decoder maps it back.
			d = -time.Millisecond
		}
		if err != nil || back != d {
			t.Errorf("FormatDuration(%v) reads back as %v, %v", d, back, err)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"tandem": "tandem", "tcp://0.0.0.0:61616": "tcp://0.0.0.0:61616", "#": `"#"`, "": `""`,
		"true": `"true"`, "no": `"no"`, "10": `"10"`, "0x1f": `"0x1f"`, "1e3": `"1e3"`, "null": `"null"`,
		"with space": `"with space"`, "a: b": `"a: b"`, "-x": `"-x"`, "orders.*": `"orders.*"`,
		"/srv/data dir": `"/srv/data dir"`, "10MiB": "10MiB", "é": `"é"`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"journal-directory", "journal-file-size", "paging-directory", "name"}
	for in, want := range map[string]string{
		"journal-directroy": "journal-directory", "journal_file_size": "journal-file-size",
		"nmae": "name", "completely-different": "",
	} {
		if got := suggest(in, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
