package contract

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartFormat(t *testing.T) {
	ts := time.Date(2026, 11, 21, 10, 45, 0, 123_456_789, time.UTC)
	if got := FormatStart(ts); got != "20261121T104500.123Z" {
		t.Fatalf("FormatStart = %s", got)
	}
	for s, want := range map[string]string{
		"20261121T104500.123Z": "2026-11-21T10:45:00.123Z",
		"20261121T104500Z":     "2026-11-21T10:45:00Z",
		"20261121T104500.1Z":   "2026-11-21T10:45:00.1Z",
	} {
		got, err := ParseStart(s)
		if err != nil || got.Format(time.RFC3339Nano) != want {
			t.Errorf("ParseStart(%s) = %v, %v; want %s", s, got, err, want)
		}
	}
	for _, s := range []string{"20261131T104500Z", "20261121T254500Z", "20261121T104500.1234Z", "2026-11-21T10:45:00Z", "20261121T104500"} {
		if _, err := ParseStart(s); err == nil {
			t.Errorf("ParseStart(%s) accepted", s)
		}
	}
}

func TestKeyRoundTrip(t *testing.T) {
	k := Key{Service: "checkout", Instance: "pod-7.eu", Start: time.Date(2026, 11, 21, 10, 45, 0, 123e6, time.UTC), Kind: "heap", Tag: "ab12-3", Ext: "pb.gz"}
	s, err := k.Format()
	if err != nil || s != "raw/checkout/pod-7.eu/20261121T104500.123Z_heap_ab12-3.pb.gz" {
		t.Fatalf("Format = %s, %v", s, err)
	}
	back, err := ParseKey(s)
	if err != nil || back != k {
		t.Fatalf("ParseKey = %+v, %v", back, err)
	}
	k2, err := ParseKey("raw/svc/i/20261121T104500Z_gctrace.log.gz")
	if err != nil || k2.Kind != "gctrace" || k2.Ext != "log.gz" || k2.Tag != "" {
		t.Fatalf("ParseKey no tag = %+v, %v", k2, err)
	}
	bad := map[string]string{
		"prof/svc/i/20261121T104500Z_cpu.pb":                                "must start with",
		"raw/svc/20261121T104500Z_cpu.pb":                                   "path segment",
		"raw/svc/i/20261121T104500Z_cpu.zip":                                "does not end in",
		"raw/svc/i/20261121T104500Z_cpu_a_b.pb":                             "is not <start>",
		"raw/svc/i/20261121T104500Z_trace.pb":                               "kind",
		"raw/svc/i/2026-11-21_cpu.pb":                                       "capture start",
		"raw/-svc/i/20261121T104500Z_cpu.pb":                                "service",
		"raw/svc/i/20261121T104500Z_cpu_a.b.pb":                             "tag", // ends in .pb, so the tag is "a.b"
		"raw/svc/i/20261121T104500Z_cpu_" + strings.Repeat("x", 65) + ".pb": "tag",
	}
	for key, want := range bad {
		if _, err := ParseKey(key); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKey(%s) = %v; want error containing %q", key, err, want)
		}
	}
	if _, err := (Key{Service: "s", Instance: "i", Start: time.Now(), Kind: "cpu", Ext: "pb", Tag: "a_b"}).Format(); err == nil {
		t.Error("Format accepted a tag with _")
	}
}

func TestLabels(t *testing.T) {
	l := map[string]string{"region": "eu-west-1", "team": "a b,c=d", "ü": "%"}
	s := FormatLabels(l)
	// Same bytes as JavaScript's encodeURIComponent (lib/model/upload-key.ts formatLabels).
	if s != "region=eu-west-1,team=a%20b%2Cc%3Dd,%C3%BC=%25" {
		t.Fatalf("FormatLabels = %s", s)
	}
	back, err := ParseLabels(s)
	if err != nil || len(back) != 3 || back["team"] != "a b,c=d" || back["ü"] != "%" {
		t.Fatalf("ParseLabels = %v, %v", back, err)
	}
	for _, bad := range []string{"x", "=v", "a=1,a=2", "a=%zz"} {
		if _, err := ParseLabels(bad); err == nil {
			t.Errorf("ParseLabels(%q) accepted", bad)
		}
	}
	if ValidateLabels(map[string]string{"1bad": "x"}) == nil || ValidateLabels(map[string]string{"ok_key.x-y": "v"}) != nil {
		t.Error("ValidateLabels")
	}
	if ValidateVersion("v1.4.2+abc") != nil || ValidateVersion("v 1") == nil || ValidateVersion("a/b") == nil {
		t.Error("ValidateVersion")
	}
	if SanitizeName("ip-10-0-0-1.ec2.internal") != "ip-10-0-0-1.ec2.internal" || SanitizeName("_my host!") != "my-host-" {
		t.Errorf("SanitizeName: %q", SanitizeName("_my host!"))
	}
}

// The version grammar shared with lib/model/source.ts: test/contract/versions.json.
func TestVersionContract(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "test", "contract", "versions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Valid, Invalid []string }
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	for _, v := range c.Valid {
		if err := ValidateVersion(v); err != nil {
			t.Errorf("ValidateVersion(%q) refused: %v", v, err)
		}
	}
	for _, v := range c.Invalid {
		if ValidateVersion(v) == nil {
			t.Errorf("ValidateVersion(%q) accepted", v)
		}
	}
}

// The key vectors shared with lib/model/upload-key.ts: test/contract/upload-keys.json.
func TestUploadKeyVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "test", "contract", "upload-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Valid []struct {
			Key, Service, Instance, Start, Kind, Tag, Ext string
		}
		Invalid []struct{ Key, Why string }
		Labels  []struct {
			Labels    map[string]string
			Formatted string
		}
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Valid) == 0 || len(v.Invalid) == 0 || len(v.Labels) == 0 {
		t.Fatal("empty vectors")
	}
	for _, c := range v.Valid {
		start, err := time.Parse(time.RFC3339Nano, c.Start)
		if err != nil {
			t.Fatal(err)
		}
		want := Key{Service: c.Service, Instance: c.Instance, Start: start, Kind: c.Kind, Tag: c.Tag, Ext: c.Ext}
		got, err := ParseKey(c.Key)
		if err != nil || !got.Start.Equal(want.Start) || got.Service != want.Service || got.Instance != want.Instance || got.Kind != want.Kind || got.Tag != want.Tag || got.Ext != want.Ext {
			t.Errorf("ParseKey(%s) = %+v, %v; want %+v", c.Key, got, err, want)
		}
		if s, err := want.Format(); err != nil || s != c.Key {
			t.Errorf("Format(%+v) = %s, %v; want %s", want, s, err, c.Key)
		}
	}
	for _, c := range v.Invalid {
		if k, err := ParseKey(c.Key); err == nil {
			t.Errorf("ParseKey(%s) accepted (%+v); want refused: %s", c.Key, k, c.Why)
		}
	}
	for _, c := range v.Labels {
		if s := FormatLabels(c.Labels); s != c.Formatted {
			t.Errorf("FormatLabels(%v) = %q; want %q", c.Labels, s, c.Formatted)
		}
		back, err := ParseLabels(c.Formatted)
		if err != nil || len(back) != len(c.Labels) {
			t.Errorf("ParseLabels(%q) = %v, %v", c.Formatted, back, err)
		}
		for k, val := range c.Labels {
			if back[k] != val {
				t.Errorf("ParseLabels(%q)[%q] = %q; want %q", c.Formatted, k, back[k], val)
			}
		}
	}
}
