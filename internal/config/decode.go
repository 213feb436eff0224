package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"tandem/internal/security"
)

// maxAliases bounds how many YAML aliases the decoder follows, so that a
// file of nested aliases ("billion laughs") cannot make it walk an
// exponentially large tree.
const maxAliases = 10000

// Load reads, parses and validates a broker.yaml. Relative data directories
// and the log file resolve against the instance directory, which is the
// parent of the file's directory when that directory is named etc (the
// instance layout) and the file's directory otherwise. The error lists every
// problem of the file (a *ValidationError wrapping ErrInvalid), or wraps
// fs.ErrNotExist when the file is missing.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("broker configuration %s does not exist; create an instance with 'tandem create DIR' or point --instance at one: %w", path, err)
		}
		return nil, fmt.Errorf("read broker configuration: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("locate broker configuration %s: %w", path, err)
	}
	base := filepath.Dir(abs)
	if filepath.Base(base) == "etc" {
		base = filepath.Dir(base)
	}
	return Parse(data, path, base)
}

// Parse parses and validates the contents of a broker.yaml. filename labels
// the problems and locates the users file (a relative users-file resolves
// against filename's directory); relative data directories and the log file
// resolve against baseDir ("" means the working directory). Keys the file
// leaves out get their defaults.
func Parse(data []byte, filename, baseDir string) (*Config, error) {
	c := baseDefaults()
	c.File = filename
	d := &decoder{file: filename, lines: make(map[string]int)}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		// An empty file is a configuration of defaults.
	case err != nil:
		return nil, &ValidationError{Problems: []Problem{syntaxProblem(filename, err)}}
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			line := extra.Line
			if err != nil {
				return nil, &ValidationError{Problems: []Problem{syntaxProblem(filename, err)}}
			}
			d.problem(line, "", "a second YAML document starts here; broker.yaml holds one document, remove the '---' separator")
		}
		if len(doc.Content) > 0 {
			d.config(doc.Content[0], c)
		}
	}
	c.lines = d.lines

	if c.Security.UsersFile != "" && !filepath.IsAbs(c.Security.UsersFile) {
		cfgDir, err := filepath.Abs(filepath.Dir(filename))
		if err != nil {
			return nil, fmt.Errorf("locate %s: %w", filename, err)
		}
		c.Security.UsersFile = filepath.Join(cfgDir, c.Security.UsersFile)
	}
	if err := c.ResolvePaths(baseDir); err != nil {
		return nil, err
	}
	c.BaseDir, _ = filepath.Abs(baseDir)

	probs := append(d.probs, c.validate()...)
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &ValidationError{Problems: probs}
	}
	return c, nil
}

// ResolvePaths makes the data directories, the log file and the users file
// absolute by joining relative ones to baseDir ("" means the working
// directory). Parse calls it; callers of Default call it to pin the
// configuration to a directory.
func (c *Config) ResolvePaths(baseDir string) error {
	base, err := filepath.Abs(baseDir)
	if err != nil {
		return fmt.Errorf("resolve directories against %q: %w", baseDir, err)
	}
	for _, p := range []*string{&c.JournalDirectory, &c.BindingsDirectory, &c.PagingDirectory,
		&c.LargeMessagesDirectory, &c.Log.File, &c.Security.UsersFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return nil
}

// syntaxProblem turns a YAML syntax error, which yaml.v3 words as
// "yaml: line N: what", into a Problem with its line.
func syntaxProblem(file string, err error) Problem {
	p := Problem{File: file}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, what, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				p.Line, msg = n, what
			}
		}
	}
	p.Msg = "YAML syntax error: " + msg + "; check the indentation and quoting around this line"
	return p
}

// handler decodes the value of one key; p is the key's path.
type handler func(v *yaml.Node, p string)

// decoder walks the YAML tree of a broker.yaml into a Config, collecting
// every problem instead of stopping at the first.
type decoder struct {
	file    string
	probs   []Problem
	lines   map[string]int
	aliases int
}

// problem records a problem at line; path, when set, prefixes the message.
func (d *decoder) problem(line int, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Msg: msg})
}

// deref follows aliases to the node they stand for.
func (d *decoder) deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		d.aliases++
		if d.aliases == maxAliases {
			d.problem(n.Line, "", "the file uses more than %d aliases; expand them or simplify the file", maxAliases)
		}
		if d.aliases >= maxAliases {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line}
		}
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an explicit or implicit YAML null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// mapping decodes the mapping n at path with one handler per known key. It
// reports unknown keys (suggesting the closest known one), repeated keys
// and a value that is not a mapping. A null value is an empty mapping.
func (d *decoder) mapping(n *yaml.Node, path string, handlers map[string]handler) {
	n = d.deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.problem(n.Line, path, "expected a mapping of keys (%s), found %s", strings.Join(sortedKeys(handlers), ", "), describe(n))
		return
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.deref(n.Content[i]), n.Content[i+1]
		key := k.Value
		p := joinPath(path, key)
		if first, dup := seen[key]; dup {
			d.problem(k.Line, p, "repeated key (first set on line %d); keep one", first)
			continue
		}
		seen[key] = k.Line
		h, ok := handlers[key]
		if !ok {
			d.unknownKey(k, path, sortedKeys(handlers))
			continue
		}
		d.lines[p] = k.Line
		h(v, p)
	}
}

// unknownKey reports a key the schema does not know.
func (d *decoder) unknownKey(k *yaml.Node, path string, known []string) {
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	msg := fmt.Sprintf("unknown key %q %s", k.Value, where)
	if s := suggest(k.Value, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else {
		msg += fmt.Sprintf("; expected one of: %s", strings.Join(known, ", "))
	}
	d.problem(k.Line, "", "%s", msg)
}

// entries decodes a mapping whose keys the user chooses (patterns, names),
// calling fn for each entry with the entry's path.
func (d *decoder) entries(n *yaml.Node, path, what string, fn func(key string, k, v *yaml.Node, p string)) {
	n = d.deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.problem(n.Line, path, "expected a mapping of %s, found %s", what, describe(n))
		return
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.deref(n.Content[i]), n.Content[i+1]
		p := mapPath(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			d.problem(k.Line, path, "a key must be a plain string, found %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.problem(k.Line, p, "repeated key (first set on line %d); keep one", first)
			continue
		}
		seen[k.Value] = k.Line
		d.lines[p] = k.Line
		fn(k.Value, k, v, p)
	}
}

// sequence decodes a list, calling fn for each element with its path.
func (d *decoder) sequence(n *yaml.Node, path, what string, fn func(i int, v *yaml.Node, p string)) {
	n = d.deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.problem(n.Line, path, "expected a list of %s, found %s", what, describe(n))
		return
	}
	for i, v := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = v.Line
		fn(i, v, p)
	}
}

// scalar returns the text of a scalar value, reporting anything else.
func (d *decoder) scalar(n *yaml.Node, p, expected string) (string, bool) {
	n = d.deref(n)
	switch {
	case isNull(n):
		d.problem(n.Line, p, "no value given; expected %s (or remove the key for the default)", expected)
		return "", false
	case n.Kind != yaml.ScalarNode:
		d.problem(n.Line, p, "expected %s, found %s", expected, describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(n *yaml.Node, p string) (string, bool) {
	return d.scalar(n, p, "a string")
}

func (d *decoder) boolean(n *yaml.Node, p string) (bool, bool) {
	s, ok := d.scalar(n, p, "true or false")
	if !ok {
		return false, false
	}
	b, ok := parseBool(s)
	if !ok {
		d.problem(d.deref(n).Line, p, "%q is not a boolean; expected true or false", s)
	}
	return b, ok
}

func (d *decoder) integer(n *yaml.Node, p string) (int, bool) {
	s, ok := d.scalar(n, p, "an integer")
	if !ok {
		return 0, false
	}
	v, err := parseInt(s)
	if err != nil || int64(int(v)) != v {
		d.problem(d.deref(n).Line, p, "%q is not an integer; expected a whole number such as 10", s)
		return 0, false
	}
	return int(v), true
}

func (d *decoder) float(n *yaml.Node, p string) (float64, bool) {
	s, ok := d.scalar(n, p, "a number")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		d.problem(d.deref(n).Line, p, "%q is not a number; expected a decimal such as 2.0", s)
		return 0, false
	}
	return f, true
}

func (d *decoder) size(n *yaml.Node, p string) (int64, bool) {
	s, ok := d.scalar(n, p, "a size")
	if !ok {
		return 0, false
	}
	v, err := ParseSize(s)
	if err != nil {
		d.problem(d.deref(n).Line, p, "%q is not a size; expected bytes (10485760) or a number with a unit: 512KiB, 10MiB, 1GiB (K, M, G, T; KB = KiB = 1024)", s)
		return 0, false
	}
	return v, true
}

// globalMaxSize reads global-max-size: a size, -1, or a share of the
// machine's memory written as a percentage ("25%").
func (d *decoder) globalMaxSize(n *yaml.Node, p string, c *Config) {
	s, ok := d.scalar(n, p, "a size or a percentage")
	if !ok {
		return
	}
	if num, isPercent := strings.CutSuffix(strings.TrimSpace(s), "%"); isPercent {
		pct, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || pct < 1 || pct > 100 {
			d.problem(d.deref(n).Line, p, "%q is not a percentage of memory; expected a whole number from 1%% to 100%%, a size such as 4GiB, or -1", s)
			return
		}
		c.GlobalMaxSize, c.GlobalMaxSizePercent = 0, pct
		return
	}
	v, err := ParseSize(s)
	if err != nil {
		d.problem(d.deref(n).Line, p, "%q is not a size; expected a size such as 4GiB, a percentage of memory such as 25%%, or -1 for unlimited", s)
		return
	}
	if v == 0 {
		d.problem(d.deref(n).Line, p, "0 would hold every message out of memory; use a size such as 4GiB, a percentage of memory such as 25%%, or -1 for unlimited")
		return
	}
	c.GlobalMaxSize, c.GlobalMaxSizePercent = v, 0
}

// durationIn returns a reader of durations whose bare integers count unit.
func (d *decoder) durationIn(unit time.Duration, unitName string) func(*yaml.Node, string) (time.Duration, bool) {
	return func(n *yaml.Node, p string) (time.Duration, bool) {
		s, ok := d.scalar(n, p, "a duration")
		if !ok {
			return 0, false
		}
		v, err := ParseDuration(s, unit)
		if err != nil {
			d.problem(d.deref(n).Line, p, "%q is not a duration; expected a duration such as 500us, 5s or 1m, or an integer number of %s", s, unitName)
			return 0, false
		}
		return v, true
	}
}

// enum returns a reader for one of a fixed set of words.
func enum[T any](d *decoder, parse func(string) (T, bool), expected string) func(*yaml.Node, string) (T, bool) {
	return func(n *yaml.Node, p string) (T, bool) {
		var zero T
		s, ok := d.scalar(n, p, expected)
		if !ok {
			return zero, false
		}
		v, ok := parse(s)
		if !ok {
			d.problem(d.deref(n).Line, p, "%q is not valid; expected %s", s, expected)
		}
		return v, ok
	}
}

// stringList reads a list of strings. A single string is accepted too and
// split at commas, as Artemis writes roles="amq, admin".
func (d *decoder) stringList(n *yaml.Node, p string) ([]string, bool) {
	n = d.deref(n)
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		var out []string
		for _, s := range strings.Split(n.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, true
	}
	out := []string{}
	ok := true
	d.sequence(n, p, "strings", func(_ int, v *yaml.Node, ep string) {
		s, good := d.str(v, ep)
		ok = ok && good
		if good {
			out = append(out, s)
		}
	})
	return out, ok && (n.Kind == yaml.SequenceNode || isNull(n))
}

// to returns a handler that stores what read decodes into dst.
func to[T any](dst *T, read func(*yaml.Node, string) (T, bool)) handler {
	return func(v *yaml.Node, p string) {
		if x, ok := read(v, p); ok {
			*dst = x
		}
	}
}

// toPtr is to for the optional fields of address settings.
func toPtr[T any](dst **T, read func(*yaml.Node, string) (T, bool)) handler {
	return func(v *yaml.Node, p string) {
		if x, ok := read(v, p); ok {
			*dst = &x
		}
	}
}

// describe names the kind of a node for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// sortedKeys returns the keys of a handler map in order, for messages.
func sortedKeys(m map[string]handler) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// permissionsOf reads the permission → roles mapping of a security setting.
func (d *decoder) permissionsOf(n *yaml.Node, path string) map[security.Permission][]string {
	perms := make(map[security.Permission][]string)
	n = d.deref(n)
	if isNull(n) {
		return perms
	}
	if n.Kind != yaml.MappingNode {
		d.problem(n.Line, path, "expected a mapping of permission to roles (e.g. send: [amq]), found %s", describe(n))
		return perms
	}
	seen := make(map[security.Permission]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.deref(n.Content[i]), n.Content[i+1]
		perm, err := security.ParsePermission(k.Value)
		if err != nil {
			d.problem(k.Line, path, "%v", err)
			continue
		}
		p := joinPath(path, string(perm))
		if first, dup := seen[perm]; dup {
			d.problem(k.Line, p, "repeated permission (first set on line %d); keep one", first)
			continue
		}
		seen[perm] = k.Line
		d.lines[p] = k.Line
		if roles, ok := d.stringList(v, p); ok {
			perms[perm] = roles
		}
	}
	return perms
}
