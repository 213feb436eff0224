package config

import (
	"strings"
	"testing"
)

func TestGlobalMaxSize(t *testing.T) {
	const gib = 1 << 30
	cases := []struct {
		yaml     string
		size     int64
		percent  int
		on16GiB  int64
		unknown  int64
		problems string
	}{
		{yaml: "", percent: 25, on16GiB: 4 * gib, unknown: gib},
		{yaml: "global-max-size: 10%", percent: 10, on16GiB: 16 * gib * 10 / 100, unknown: gib},
		{yaml: "global-max-size: 2GiB", size: 2 * gib, on16GiB: 2 * gib, unknown: 2 * gib},
		{yaml: "global-max-size: -1", size: -1, on16GiB: -1, unknown: -1},
		{yaml: "global-max-size: 0", problems: "0 would hold every message out of memory"},
		{yaml: "global-max-size: 0%", problems: "is not a percentage of memory"},
		{yaml: "global-max-size: 150%", problems: "is not a percentage of memory"},
		{yaml: "global-max-size: lots", problems: "is not a size"},
		{yaml: "producer-window-size: 0", problems: "producer-window-size: 0 is out of range"},
	}
	for _, tc := range cases {
		c, err := Parse([]byte(tc.yaml+"\n"), "b.yaml", t.TempDir())
		if tc.problems != "" {
			if err == nil || !strings.Contains(err.Error(), tc.problems) {
				t.Errorf("%q: got %v, want a problem saying %q", tc.yaml, err, tc.problems)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if c.GlobalMaxSize != tc.size || c.GlobalMaxSizePercent != tc.percent {
			t.Errorf("%q: size %d, percent %d; want %d, %d", tc.yaml, c.GlobalMaxSize, c.GlobalMaxSizePercent, tc.size, tc.percent)
		}
		if got := c.GlobalMaxSizeFor(16 * gib); got != tc.on16GiB {
			t.Errorf("%q on 16 GiB: %d, want %d", tc.yaml, got, tc.on16GiB)
		}
		if got := c.GlobalMaxSizeFor(0); got != tc.unknown {
			t.Errorf("%q on unknown memory: %d, want %d", tc.yaml, got, tc.unknown)
		}
		// What Marshal writes reads back the same.
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("%q: marshal: %v", tc.yaml, err)
		}
		back, err := Parse(out, "b.yaml", t.TempDir())
		if err != nil {
			t.Fatalf("%q: marshalled config does not parse: %v\n%s", tc.yaml, err, out)
		}
		if back.GlobalMaxSize != c.GlobalMaxSize || back.GlobalMaxSizePercent != c.GlobalMaxSizePercent ||
			back.ProducerWindowSize != c.ProducerWindowSize {
			t.Errorf("%q: marshalled and read back as %d / %d%% / %d", tc.yaml, back.GlobalMaxSize, back.GlobalMaxSizePercent, back.ProducerWindowSize)
		}
	}
}
