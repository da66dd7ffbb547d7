package agent

// Bundles (docs/upload-contract.md, "Bundles"; lib/model/bundle.ts reads them): one upload per
// period instead of one per profile kind and metrics batch. The collectors hand their outputs to
// the bundler as members; at the end of each period the profile loop (or, without profiles, the
// metrics loop; and Stop, once the collectors are done) turns the members collected so far into
//
//	raw/<service>/<instance>/<earliest member start>_bundle_<run id>-<seq>.tar.gz
//	= gzip(tar(manifest.json, cpu.pb, heap.pb, ..., metrics.jsonl))
//
// Members are stored uncompressed (pprof protobufs un-gzipped): the archive is gzipped as a
// whole, and the kinds of one process share most of their strings (function and file names), so
// one gzip stream over all of them is smaller than each compressed alone. The archive is plain
// USTAR from archive/tar, so `tar -tzvf` lists it.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

const (
	bundleFormat   = "fleetprof-bundle"
	bundleVersion  = 1
	bundleManifest = "manifest.json"
)

type member struct {
	name        string
	kind        string
	start       time.Time
	temporality string // "delta" for counter kinds sent as deltas, else ""
	body        []byte // uncompressed
}

type bundler struct {
	mu      sync.Mutex
	members []member
	names   map[string]int
}

// add keeps m for the next bundle, with a name unique within it (metrics.jsonl, metrics-2.jsonl).
func (b *bundler) add(kind, ext string, start time.Time, temporality string, body []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.names == nil {
		b.names = map[string]int{}
	}
	b.names[kind]++
	name := kind + "." + ext
	if n := b.names[kind]; n > 1 {
		name = kind + "-" + strconv.Itoa(n) + "." + ext
	}
	b.members = append(b.members, member{name: name, kind: kind, start: start, temporality: temporality, body: body})
}

// take returns the members collected so far and starts a new bundle.
func (b *bundler) take() []member {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.members
	b.members, b.names = nil, nil
	return m
}

type manifestMember struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Start       string `json:"start"`
	Temporality string `json:"temporality,omitempty"`
}

// buildBundle writes the gzipped tar of the members, manifest.json first; it returns the earliest
// member start (the key's start).
func buildBundle(members []member) ([]byte, time.Time, error) {
	type manifest struct {
		Format  string           `json:"format"`
		Version int              `json:"version"`
		Members []manifestMember `json:"members"`
	}
	mf := manifest{Format: bundleFormat, Version: bundleVersion}
	earliest := members[0].start
	for _, m := range members {
		mf.Members = append(mf.Members, manifestMember{Name: m.name, Kind: m.kind, Start: m.start.UTC().Format(time.RFC3339Nano), Temporality: m.temporality})
		if m.start.Before(earliest) {
			earliest = m.start
		}
	}
	mj, err := json.Marshal(mf)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	put := func(name string, t time.Time, body []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: t.Truncate(time.Second), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("bundle member %s: %w", name, err)
		}
		_, err := tw.Write(body)
		return err
	}
	if err := put(bundleManifest, earliest, mj); err != nil {
		return nil, time.Time{}, err
	}
	for _, m := range members {
		if err := put(m.name, m.start, m.body); err != nil {
			return nil, time.Time{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, time.Time{}, err
	}
	if err := zw.Close(); err != nil {
		return nil, time.Time{}, err
	}
	return out.Bytes(), earliest, nil
}

// flushBundle uploads the members collected so far as one bundle (nothing when there are none).
func (a *Agent) flushBundle() {
	members := a.bundle.take()
	if len(members) == 0 {
		return
	}
	body, start, err := buildBundle(members)
	if err != nil {
		a.stats.skipped.Add(1)
		a.stats.setErr(err)
		return
	}
	a.enqueue("bundle", "tar.gz", start, body)
}

// emit hands one collected output to the period's bundle, or uploads it on its own
// (PerFileUploads). body is what the runtime wrote (gzipped pprof, or raw JSON lines).
func (a *Agent) emit(kind string, start time.Time, temporality string, body []byte) {
	if a.cfg.PerFileUploads {
		ext := "pb.gz"
		if kind == "metrics" {
			gz, err := gzipBytes(body)
			if err != nil {
				a.stats.skipped.Add(1)
				a.stats.setErr(err)
				return
			}
			body, ext = gz, "jsonl.gz"
		}
		meta := a.meta
		if temporality == "delta" {
			meta = a.deltaMeta()
		}
		if err := a.upload(kind, ext, start, body, meta); err != nil {
			a.stats.skipped.Add(1)
			a.stats.setErr(err)
		}
		return
	}
	ext := "jsonl"
	if kind != "metrics" {
		raw, err := gunzipped(body)
		if err != nil {
			a.stats.skipped.Add(1)
			a.stats.setErr(fmt.Errorf("%s profile: %w", kind, err))
			return
		}
		body, ext = raw, "pb"
	}
	a.bundle.add(kind, ext, start, temporality, body)
}

// gunzipped is b inflated when it is gzip (what pprof writes), else b.
func gunzipped(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
