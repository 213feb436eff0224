package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors for values that cannot be read. The decoder turns them
// into problems with file:line; callers of ParseSize and ParseDuration can
// match them with errors.Is.
var (
	// ErrBadSize reports a size that is neither bytes nor a number with a
	// known unit.
	ErrBadSize = errors.New("not a size")
	// ErrBadDuration reports a duration that is neither a Go duration nor
	// an integer.
	ErrBadDuration = errors.New("not a duration")

	errNotTCP = errors.New("expected tcp://HOST:PORT such as tcp://0.0.0.0:61616")
	errNoPort = errors.New("the URL has no port; expected tcp://HOST:PORT")
)

// sizeUnit returns the multiplier of a unit (lower case, without the
// optional "i" and "b"). Units are binary whatever the spelling: Artemis
// reads "10M", "10MB" and "10MiB" all as 10×1024×1024, and broker.xml files
// translated to broker.yaml must keep their meaning.
func sizeUnit(unit string) (int64, bool) {
	switch unit {
	case "":
		return 1, true
	case "k":
		return 1 << 10, true
	case "m":
		return 1 << 20, true
	case "g":
		return 1 << 30, true
	case "t":
		return 1 << 40, true
	}
	return 0, false
}

// ParseSize reads a size in bytes: a plain integer (negative values are
// returned as they are, for the -1 = unlimited convention) or a
// non-negative integer followed by a unit K, M, G or T, optionally followed
// by "i" and/or "B" in any case: 512KiB, 10M, 10MB, 1gib. Spaces between
// number and unit are allowed.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, nil
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%w: %q", ErrBadSize, s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is too large", ErrBadSize, s)
	}
	// "KiB", "KB", "Ki" and "K" all mean the same.
	unit := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(t[i:])), "b")
	if len(unit) == 2 && unit[1] == 'i' {
		unit = unit[:1]
	}
	mul, ok := sizeUnit(unit)
	if !ok {
		return 0, fmt.Errorf("%w: %q has an unknown unit", ErrBadSize, s)
	}
	if n > math.MaxInt64/mul {
		return 0, fmt.Errorf("%w: %q is too large", ErrBadSize, s)
	}
	return n * mul, nil
}

// FormatSize writes a size the way a person would: with the largest binary
// unit that divides it exactly ("10MiB"), or as plain bytes.
func FormatSize(n int64) string {
	if n <= 0 {
		return strconv.FormatInt(n, 10)
	}
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.mul == 0 {
			return strconv.FormatInt(n/u.mul, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// ParseDuration reads a Go duration ("500us", "2s", "1m30s") or an integer,
// which counts intUnit: Artemis writes journal-buffer-timeout in nanoseconds
// and redelivery delays in milliseconds, and integers copied from broker.xml
// must keep their meaning.
func ParseDuration(s string, intUnit time.Duration) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n > math.MaxInt64/int64(intUnit) || n < math.MinInt64/int64(intUnit) {
			return 0, fmt.Errorf("%w: %q is too large", ErrBadDuration, s)
		}
		return time.Duration(n) * intUnit, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadDuration, s)
	}
	return d, nil
}

// FormatDuration writes d for broker.yaml: a Go duration string, or the
// integer -1 for the "disabled" convention of negative delays.
func FormatDuration(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	if d == 0 {
		return "0s"
	}
	return d.String()
}

// parseBool accepts YAML's and Artemis' spellings of a boolean, so that
// yes/no and quoted "true" from a translated broker.xml do not trip users.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

// parseInt reads a decimal integer; YAML's digit separators ("20_000") are
// allowed.
func parseInt(s string) (int64, error) {
	return strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), "_", ""), 10, 64)
}

// parseRoutingType reads ANYCAST or MULTICAST in any case.
func parseRoutingType(s string) (RoutingType, bool) {
	switch RoutingType(strings.ToUpper(strings.TrimSpace(s))) {
	case Anycast:
		return Anycast, true
	case Multicast:
		return Multicast, true
	}
	return "", false
}

// parseJournalType reads ASYNCIO or NIO in any case.
func parseJournalType(s string) (JournalType, bool) {
	t := JournalType(strings.ToUpper(strings.TrimSpace(s)))
	switch t {
	case JournalASYNCIO, JournalNIO:
		return t, true
	}
	return "", false
}

// parseFullPolicy reads PAGE, BLOCK, FAIL or DROP in any case.
func parseFullPolicy(s string) (AddressFullPolicy, bool) {
	p := AddressFullPolicy(strings.ToUpper(strings.TrimSpace(s)))
	switch p {
	case PolicyPage, PolicyBlock, PolicyFail, PolicyDrop:
		return p, true
	}
	return "", false
}

// parseLogLevel reads debug, info, warn (or warning) and error in any case.
func parseLogLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// formatLogLevel is the inverse of parseLogLevel for the four levels.
func formatLogLevel(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	default:
		return "error"
	}
}

// parseLogFormat reads text or json in any case.
func parseLogFormat(s string) (LogFormat, bool) {
	f := LogFormat(strings.ToLower(strings.TrimSpace(s)))
	switch f {
	case LogText, LogJSON:
		return f, true
	}
	return "", false
}

// parseHAMode reads a shared-store role, accepting Artemis' older names.
func parseHAMode(s string) (HAMode, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "primary", "master", "live":
		return HAPrimary, true
	case "backup", "slave":
		return HABackup, true
	}
	return HANone, false
}

// suggest returns the candidate closest to s by edit distance when it is
// close enough to be a likely typo, or "".
func suggest(s string, candidates []string) string {
	best, bestDist := "", len(s)/3+2
	for _, c := range candidates {
		if d := EditDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance between a and b, in bytes. The
// configuration's "did you mean" uses it, and so do the CLI's for flags and
// URL options.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
