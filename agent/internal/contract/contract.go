// Package contract is the upload contract (docs/upload-contract.md, lib/model/upload-key.ts)
// ported to Go: the agent's keys and metadata, and ParseKey for the agent's own tests and tools.
// It is internal: users import the agent package, which needs none of this in its API, so the
// contract can change with the TypeScript side without breaking them. test/contract/ holds the
// vectors both sides test against (upload-keys.json, versions.json).
//
//	raw/<service>/<instance>/<start>_<kind>[_<tag>].<ext>
//	  start  compact UTC capture start, 20261121T104500.123Z (milliseconds optional)
//	  kind   cpu|heap|allocs|goroutine|block|mutex|threadcreate|gctrace|metrics|bundle
//	  tag    optional [A-Za-z0-9-]{1,64}, makes keys unique
//	  ext    pb.gz|pb|txt|txt.gz|log|log.gz|json|json.gz|jsonl|jsonl.gz|tar.gz|tar
//	x-amz-meta-version  service version (optional)
//	x-amz-meta-labels   k=v,k=v with k and v URL-encoded (optional)
//	x-amz-meta-process  identity of the writing process (the agent sends ProcessID)
//	x-amz-meta-temporality  delta | cumulative: how counter sample types were sent (optional)
//
// The validation rules are the ones of lib/model/source.ts, so a key this package writes is one
// the ingest Lambda accepts.
package contract

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// UploadPrefix is the only prefix that notifies the ingest queue.
const UploadPrefix = "raw/"

// Kinds are the upload kinds of the contract.
var Kinds = []string{"cpu", "heap", "allocs", "goroutine", "block", "mutex", "threadcreate", "gctrace", "metrics", "bundle"}

// Extensions are the file extensions of the contract, longest first where one ends another.
var Extensions = []string{"pb.gz", "pb", "txt.gz", "txt", "log.gz", "log", "jsonl.gz", "jsonl", "json.gz", "json", "tar.gz", "tar"}

// User metadata names (S3 returns them lower-case, without the x-amz-meta- prefix).
const (
	MetaVersion     = "version"
	MetaLabels      = "labels"
	MetaProcess     = "process"
	MetaTemporality = "temporality"
)

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	labelKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)
	tagRE      = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	versionRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
	startRE    = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?Z$`)
)

// Key is the parsed form of an upload key.
type Key struct {
	Service  string
	Instance string
	Start    time.Time // capture start, millisecond precision, UTC
	Kind     string
	Tag      string // optional
	Ext      string
}

// FormatStart renders a capture start as 20261121T104500.123Z (UTC, milliseconds).
func FormatStart(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format("20060102T150405.000Z")
}

// ParseStart parses 20261121T104500[.1-3 digits]Z; it rejects out-of-range dates (Feb 30, 25:00).
func ParseStart(s string) (time.Time, error) {
	m := startRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("capture start %q is not a UTC time like 20261121T104500.123Z", s)
	}
	frac := m[7]
	for len(frac) < 3 {
		frac += "0"
	}
	t, err := time.Parse("20060102T150405.000Z", fmt.Sprintf("%s%s%sT%s%s%s.%sZ", m[1], m[2], m[3], m[4], m[5], m[6], frac))
	if err != nil {
		return time.Time{}, fmt.Errorf("capture start %q is not a valid UTC time: %v", s, err)
	}
	return t.UTC(), nil
}

func validKind(k string) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

func validExt(e string) bool {
	for _, x := range Extensions {
		if x == e {
			return true
		}
	}
	return false
}

// ValidName reports whether s is a valid service or instance name: 1-128 characters of
// [A-Za-z0-9._-], starting with a letter or digit.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// SanitizeName turns any string (a hostname, a pod name) into a valid instance name, or "" when
// nothing usable is left.
func SanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.TrimLeft(b.String(), "._-")
	if len(out) > 128 {
		out = out[:128]
	}
	return out
}

func (k Key) validate() error {
	if !nameRE.MatchString(k.Service) {
		return fmt.Errorf("service %q must be 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit", k.Service)
	}
	if !nameRE.MatchString(k.Instance) {
		return fmt.Errorf("instance %q must be 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit", k.Instance)
	}
	if !validKind(k.Kind) {
		return fmt.Errorf("kind %q is not one of %s", k.Kind, strings.Join(Kinds, ", "))
	}
	if !validExt(k.Ext) {
		return fmt.Errorf("extension %q is not one of %s", k.Ext, strings.Join(Extensions, ", "))
	}
	if k.Tag != "" && !tagRE.MatchString(k.Tag) {
		return fmt.Errorf("tag %q must be 1-64 characters of [A-Za-z0-9-]", k.Tag)
	}
	if k.Start.Before(time.Unix(0, 0)) {
		return fmt.Errorf("capture start %v is before 1970", k.Start)
	}
	return nil
}

// String renders the key; it panics on an invalid key (use Format to get an error instead).
func (k Key) String() string {
	s, err := k.Format()
	if err != nil {
		panic(err)
	}
	return s
}

// Format renders the key, or says which part breaks the contract.
func (k Key) Format() (string, error) {
	if err := k.validate(); err != nil {
		return "", fmt.Errorf("invalid upload key: %w", err)
	}
	tag := ""
	if k.Tag != "" {
		tag = "_" + k.Tag
	}
	return UploadPrefix + k.Service + "/" + k.Instance + "/" + FormatStart(k.Start) + "_" + k.Kind + tag + "." + k.Ext, nil
}

// ParseKey splits a key by the grammar, with the same checks as lib/model/upload-key.ts.
func ParseKey(key string) (Key, error) {
	fail := func(format string, a ...any) (Key, error) {
		return Key{}, fmt.Errorf("upload key %q breaks the upload contract: %s", key, fmt.Sprintf(format, a...))
	}
	if !strings.HasPrefix(key, UploadPrefix) {
		return fail("must start with %q", UploadPrefix)
	}
	segs := strings.Split(key[len(UploadPrefix):], "/")
	if len(segs) != 3 {
		return fail("expected raw/<service>/<instance>/<start>_<kind>[_<tag>].<ext>, got %d path segment(s) after raw/", len(segs))
	}
	service, instance, file := segs[0], segs[1], segs[2]
	exts := append([]string(nil), Extensions...)
	sort.SliceStable(exts, func(i, j int) bool { return len(exts[i]) > len(exts[j]) })
	ext := ""
	for _, e := range exts {
		if strings.HasSuffix(file, "."+e) {
			ext = e
			break
		}
	}
	if ext == "" {
		return fail("file name %q does not end in one of .%s", file, strings.Join(Extensions, ", ."))
	}
	stem := file[:len(file)-len(ext)-1]
	parts := strings.Split(stem, "_")
	if len(parts) < 2 || len(parts) > 3 {
		return fail("file name %q is not <start>_<kind>[_<tag>].<ext>", file)
	}
	start, err := ParseStart(parts[0])
	if err != nil {
		return fail("%v", err)
	}
	k := Key{Service: service, Instance: instance, Start: start, Kind: parts[1], Ext: ext}
	if len(parts) == 3 {
		k.Tag = parts[2]
		if k.Tag == "" {
			return fail("empty tag")
		}
	}
	if err := k.validate(); err != nil {
		return fail("%v", err)
	}
	return k, nil
}

// FormatLabels renders k=v,k=v with every k and v URL-encoded (as JavaScript's
// encodeURIComponent does), sorted by key so equal label sets give equal metadata.
func FormatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, encodeURIComponent(k)+"="+encodeURIComponent(labels[k]))
	}
	return strings.Join(parts, ",")
}

// ParseLabels is the inverse of FormatLabels (and of the TypeScript formatLabels).
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		eq := strings.IndexByte(part, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("label %q is not k=v", part)
		}
		k, err1 := url.PathUnescape(part[:eq])
		v, err2 := url.PathUnescape(part[eq+1:])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("label %q is not valid URL encoding", part)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("label %q given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// ValidateLabels applies the label rules of lib/model/source.ts.
func ValidateLabels(labels map[string]string) error {
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return fmt.Errorf("label key %q must be an identifier ([A-Za-z_][A-Za-z0-9_.-]{0,63})", k)
		}
		if len([]rune(v)) > 256 {
			return fmt.Errorf("label %q: value longer than 256 characters", k)
		}
	}
	return nil
}

// ValidateVersion applies the version rule of lib/model/source.ts (VERSION): empty, or at most 128
// characters of [A-Za-z0-9._+-] starting with a letter or digit. Versions are pasted into
// suggested shell commands and URLs, so nothing with a meaning there is admitted.
// test/contract/versions.json holds the cases both sides must agree on.
func ValidateVersion(v string) error {
	if v != "" && !versionRE.MatchString(v) {
		return fmt.Errorf("version %q must be at most 128 characters of [A-Za-z0-9._+-], starting with a letter or digit", v)
	}
	return nil
}

// Metadata is the S3 user metadata of an upload (names without the x-amz-meta- prefix).
func Metadata(version string, labels map[string]string) map[string]string {
	m := map[string]string{}
	if version != "" {
		m[MetaVersion] = version
	}
	if len(labels) > 0 {
		m[MetaLabels] = FormatLabels(labels)
	}
	return m
}

// encodeURIComponent escapes everything except A-Z a-z 0-9 - _ . ! ~ * ' ( ), like JavaScript.
func encodeURIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
